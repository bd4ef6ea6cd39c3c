-- Credentials across redirects (issue 18, point 2): the headers that carry
-- credentials, the bearer token and basic auth go only to the origin (scheme,
-- host, port) they were given for. Two fixture APIs on two ports are two
-- origins; the https -> http case is in integration/security_spec.lua (TLS).
local api_fixture = dofile("tests/lib/api_fixture.lua")
local http = require "salesengine.http"
local cjson = require "cjson"

describe("redirects", function()
  local home, other

  setup(function()
    home = api_fixture.start()
    other = api_fixture.start()
  end)

  teardown(function()
    home.stop()
    other.stop()
  end)

  before_each(function()
    home.reset()
    other.reset()
  end)

  local credentials = {
    ["X-Api-Key"] = "K-secret-1", Cookie = "session=C-secret-2", ["X-Partner-Token"] = "T-secret-3",
    ["X-Client-Secret"] = "S-secret-4", ["Proxy-Authorization"] = "Basic UC1zZWNyZXQtNQ==",
    ["X-Team"] = "sales",
  }

  local function redirect_to(api, path)
    return home.url .. "/_redirect?to=" .. api.url .. path
  end

  it("drops credential headers, the bearer token and basic auth on a redirect to another port", function()
    local resp = assert(http.get(redirect_to(other, "/_echo"), { headers = credentials, bearer = "B-secret-6" }))
    local seen = cjson.decode(resp.body).headers
    for _, name in ipairs({ "x-api-key", "cookie", "x-partner-token", "x-client-secret", "proxy-authorization",
      "authorization" }) do
      assert.is_nil(seen[name], name)
    end
    assert.are.equal("sales", seen["x-team"]) -- the other headers still go
    resp = assert(http.get(redirect_to(other, "/_echo"), { basic = { "u", "P-secret-7" } }))
    assert.is_nil(cjson.decode(resp.body).headers.authorization)
  end)

  it("keeps them on a redirect within the origin", function()
    local resp = assert(http.get(redirect_to(home, "/_echo"), { headers = credentials, bearer = "B-secret-6" }))
    local seen = cjson.decode(resp.body).headers
    assert.are.equal("K-secret-1", seen["x-api-key"])
    assert.are.equal("T-secret-3", seen["x-partner-token"])
    assert.are.equal("Bearer B-secret-6", seen.authorization)
  end)

  it("drops them for good once the chain has left the origin", function()
    local back = other.url .. "/_redirect?to=" .. home.url .. "/_echo"
    local resp = assert(http.get(home.url .. "/_redirect?to=" .. back, { headers = credentials }))
    assert.is_nil(cjson.decode(resp.body).headers["x-api-key"])
  end)

  it("takes the list of credential headers from credential_headers (patterns with *)", function()
    local resp = assert(http.get(redirect_to(other, "/_echo"), {
      headers = { ["X-Team"] = "sales", ["X-Api-Key"] = "K-secret-1", ["X-Signed"] = "sig" },
      credential_headers = { "X-Team", "x-sign*" },
    }))
    local seen = cjson.decode(resp.body).headers
    assert.is_nil(seen["x-team"])
    assert.is_nil(seen["x-signed"])
    assert.are.equal("K-secret-1", seen["x-api-key"]) -- not in the list given
  end)

  it("turns a 303 (and a 302 after a POST) into a GET without body", function()
    local resp = assert(http.request({ method = "POST", url = redirect_to(other, "/_echo"), body = "x=1" }))
    local echo = cjson.decode(resp.body)
    assert.are.equal("GET", echo.method)
    assert.are.equal("", echo.body)
  end)

  it("counts redirects against max_redirects without spending retry attempts", function()
    local resp = assert(http.get(redirect_to(other, "/_echo")))
    assert.are.equal(1, resp.attempts)
    assert.are.equal(other.url .. "/_echo", resp.url)
    local _, err, code = http.get(home.url .. "/_redirect?to=" .. redirect_to(other, "/_echo"),
      { max_redirects = 1 })
    assert.are.equal("TOO_MANY_REDIRECTS", code)
    assert.matches("too many redirects %(more than 1%)", err)
  end)
end)
