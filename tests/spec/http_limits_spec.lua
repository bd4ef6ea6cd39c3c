-- Limits on what a response may hold (issue 18): headers over libcurl's
-- limits are a clear HEADER_TOO_LARGE failure, not "out of memory", and never
-- retried (point 7); a gzip bomb stops at max_size decompressed bytes (point 9).
local api_fixture = dofile("tests/lib/api_fixture.lua")
local http = require "salesengine.http"

describe("oversized response headers", function()
  local api

  setup(function()
    api = api_fixture.start()
  end)

  teardown(function()
    api.stop()
  end)

  for _, case in ipairs({ { "one 200 KB header line", 200000, 1 }, { "400 KB in 100 lines", 400000, 100 } }) do
    it("fail at once with HEADER_TOO_LARGE: " .. case[1], function()
      api.reset()
      local path = string.format("/_echo?header_bytes=%d&header_lines=%d", case[2], case[3])
      local resp, err, code = http.get(api.url .. path, { retry = { attempts = 3, base_delay = 0.01 } })
      assert.is_nil(resp)
      assert.are.equal("HEADER_TOO_LARGE", code)
      assert.matches("failed: response headers too large", err)
      assert.falsy(err:find("memory", 1, true), err)
      assert.are.equal(1, api.count("/_echo"))
    end)
  end

  it("still accept large but allowed headers", function()
    assert(http.get(api.url .. "/_echo?header_bytes=50000&header_lines=10"))
  end)

  -- The peak resident memory of this process so far, in KiB.
  local function peak_kib()
    local f = assert(io.open("/proc/self/status"))
    local kib = tonumber(f:read("a"):match("VmHWM:%s*(%d+)"))
    f:close()
    return kib
  end

  it("a gzip bomb stops at max_size decompressed bytes, without holding the rest", function()
    local before = peak_kib()
    local resp, err, code = http.get(api.url .. "/_bytes?size=67108864&gzip=1", { max_size = 1048576 })
    assert.is_nil(resp)
    assert.are.equal("TOO_LARGE", code)
    assert.matches("response body exceeds the limit of 1048576 bytes", err)
    local grown = peak_kib() - before
    assert.truthy(grown < 16 * 1024, "peak memory grew by " .. grown .. " KiB for a 64 MiB bomb")
  end)
end)
