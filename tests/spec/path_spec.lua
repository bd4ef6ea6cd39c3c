-- salesengine.path: the one dotted-path rule, and the modules that read
-- dotted paths (tx.get/tx.required, paginate.get_path, shape.lookup) agreeing
-- on numeric segments and JSON null.
local cjson = require "cjson"
local path = require "salesengine.path"
local tx = require "salesengine.transform"
local paginate = require "salesengine.paginate"
local shape = require "salesengine.shape"

local doc = {
  items = { { sku = "A" }, { sku = "B" } },
  byname = { ["1"] = "member one", [1] = "item one" },
  meta = cjson.null,
  rate = { ["1.5"] = "name", [1.5] = "float key" },
  text = "plain",
}

describe("salesengine.path", function()
  it("reads a digit segment as a member first, then as the array item", function()
    assert.are.equal("B", path.get(doc, "items.2.sku"))
    assert.are.equal("member one", path.get(doc, "byname.1"))
    assert.is_nil(path.get(doc, "rate.1.5")) -- "1.5" is two steps, "1" and "5", never the float 1.5
    assert.is_nil(path.get(doc, "items.3.sku"))
    assert.is_nil(path.get(doc, "items.x"))
  end)

  it("keeps JSON null as a value, at the end and when a step runs into it; value reads it as nil", function()
    assert.are.equal(cjson.null, path.get(doc, "meta"))
    assert.are.equal(cjson.null, path.get(doc, "meta.next"))
    assert.is_nil(path.value(doc, "meta.next"))
    assert.is_nil(path.get(doc, "text.more"))
  end)

  it("says which step found nothing, and which paths are valid", function()
    local v, step = path.walk(doc, "items.1.colour")
    assert.is_nil(v)
    assert.are.equal(3, step)
    assert.is_true(path.valid("a.b.1"))
    assert.are.same({ false, "empty segment in path 'a..b'" }, { path.valid("a..b") })
    assert.are.same({ false, "path must be a non-empty string" }, { path.valid("") })
  end)

  it("is the rule of tx.get, paginate.get_path and shape.lookup", function()
    for _, p in ipairs({ "items.2.sku", "byname.1", "items.3.sku", "meta.next", "text.more", "items.1" }) do
      local want = path.value(doc, p)
      assert.are.same(want, tx.get(doc, p), "tx.get " .. p)
      assert.are.same(want, paginate.get_path(doc, p), "paginate.get_path " .. p)
      assert.are.same(path.get(doc, p), (shape.lookup(doc, p)), "shape.lookup " .. p)
    end
    assert.has_error(function() tx.get(doc, "a..b") end, "bad argument #2 to 'get' (empty segment in path 'a..b')")
  end)
end)
