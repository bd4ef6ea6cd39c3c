# shellcheck shell=bash
# Sourced by the benchmarks (bench/run.sh, bench/scale.sh): start_nginx WORK PORT serves WORK/www
# on 127.0.0.1:PORT with Debian's nginx (one worker, sendfile), page-numbered requests
# /N/vK/sales?page=P answered from WORK/www/N/vK/pages/pP.json; sets nginx_pid (the caller stops it).
start_nginx() {
  local work=$1 port=$2
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
$([ "$(id -u)" = 0 ] && echo "user root;")
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/json;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    root $work/www;
    location ~ ^/(\d+)/(v\d)/sales\$ { try_files /\$1/\$2/pages/p\$arg_page.json =404; }
  }
}
CONF
  nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
  nginx_pid=$!
}
