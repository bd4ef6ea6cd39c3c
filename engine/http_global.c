#include "http_global.h"

#include <curl/curl.h>

int se_http_global_init(void) {
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void se_http_global_cleanup(void) {
  curl_global_cleanup();
}

const char *se_http_library_version(void) {
  return curl_version();
}
