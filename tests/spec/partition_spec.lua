-- salesengine.partition: which pages and which time slots a partition takes,
-- and the sub-windows an incremental window gets under --partition.
local testing = require "salesengine.testing"

describe("salesengine.partition", function()
  local partition, incremental, restore

  setup(function()
    restore = testing.install({ sys = testing.fake_sys({ options = { partition = { index = 1, count = 3 } } }) })
    partition = require "salesengine.partition"
    incremental = require "salesengine.incremental"
  end)

  teardown(function()
    restore()
  end)

  it("reads this process's partition from the options", function()
    assert.are.same({ index = 1, count = 3 }, partition.current())
    assert.are.equal("1/3", partition.label(partition.current()))
    assert.are.same({ index = 1, count = 3 }, partition.for_pages())
    assert.is_nil(partition.by_time(partition.for_pages)) -- an incremental source splits by time instead
    assert.are.same({ index = 1, count = 3 }, partition.for_pages())
  end)

  it("takes the pages p with (p - 1) mod N = I", function()
    local taken = {}
    for p = 1, 10 do
      if partition.takes_page({ index = 1, count = 3 }, p) then taken[#taken + 1] = p end
    end
    assert.are.same({ 2, 5, 8 }, taken)
    assert.is_true(partition.takes_page(nil, 7))
  end)

  it("cuts time into slots, slot s to partition s mod N, and lists a window's parts", function()
    local p = { index = 1, count = 2 }
    assert.is_false(partition.takes_time(p, 0, 10))
    assert.is_true(partition.takes_time(p, 10, 10))
    assert.is_true(partition.takes_time(p, 19, 10))
    assert.is_false(partition.takes_time(p, 20, 10))
    assert.are.same({ { since = 15, ["until"] = 20 }, { since = 30, ["until"] = 37 } },
      partition.sub_windows(p, 15, 37, 10))
    assert.are.same({ { since = 20, ["until"] = 30 } }, partition.sub_windows({ index = 0, count = 2 }, 15, 37, 10))
  end)

  it("gives an incremental window its end and this partition's hourly parts", function()
    local cfg = incremental.config({ field = "date", initial = "2026-01-01T00:30:00Z", slot = "1 hour" })
    local tracker = incremental.new(cfg, { name = "sales#1/3", dry_run = true, partition = { index = 1, count = 3 },
      now = function() return 1767240000 end }) -- 2026-01-01T04:00:00Z
    local w = tracker:start()
    assert.are.equal("2026-01-01T04:00:00Z", w["until"])
    assert.are.same({ index = 1, count = 3 }, w.partition)
    -- hours since 1970 mod 3: 01:00 is slot 490897 = 1 (mod 3), so 01:00-02:00 and 04:00- (past the end)
    assert.are.same({ { since = "2026-01-01T01:00:00Z", ["until"] = "2026-01-01T02:00:00Z" } }, w.sub_windows)
    assert.is_true(tracker:takes({ date = "2026-01-01T01:59:59Z" }))
    assert.is_false(tracker:takes({ date = "2026-01-01T02:00:00Z" }))
    assert.is_false(tracker:takes({ date = "not a date" })) -- unreadable cursors go to partition 0
  end)

  it("refuses a slot that is not a positive duration", function()
    assert.has_error(function() incremental.config({ field = "n", initial = 0, slot = 5 }) end,
      "incremental.slot goes with a timestamp cursor")
    assert.has_error(function() incremental.config({ field = "d", initial = "2026-01-01T00:00:00Z", slot = 0 }) end,
      "incremental.slot must be longer than 0")
  end)
end)
