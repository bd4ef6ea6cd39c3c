-- Response headers over libcurl's limits (issue 18, point 7): a clear
-- HEADER_TOO_LARGE failure, not "out of memory", and never retried.
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
end)
