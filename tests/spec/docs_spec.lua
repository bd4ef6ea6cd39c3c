-- Issue 15, point 8: the documents an analyst reads stay true — every
-- relative link leads to a file, and examples/README.md counts the examples
-- it lists.

-- The lines a shell command prints.
local function lines_of(cmd)
  local p = assert(io.popen(cmd))
  local out = {}
  for line in p:lines() do
    out[#out + 1] = line
  end
  p:close()
  return out
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then
    f:close()
  end
  return f ~= nil
end

describe("the documents", function()
  it("link only to files that exist", function()
    local broken = {}
    for _, doc in ipairs(lines_of("ls README.md docs/*.md examples/README.md examples/*/README.md")) do
      local dir = doc:match("^(.*)/[^/]*$") or "."
      for target in read(doc):gmatch("%]%(([^)%s]+)%)") do
        local path = target:gsub("#.*$", "")
        if path ~= "" and not path:match("^%a+:") and not exists(dir .. "/" .. path) then
          broken[#broken + 1] = doc .. " -> " .. target
        end
      end
    end
    assert.are.same({}, broken)
  end)

  it("examples/README.md says how many pipelines it shows", function()
    local folders = lines_of("ls examples/*/pipeline.lua")
    local words = { "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight" }
    local text = read("examples/README.md")
    assert.are.equal(words[#folders], text:match("\n\n(%a+) pipelines? on `salesengine.etl`") or
      text:match("^# Examples\n\n(%a+)"))
    for _, f in ipairs(folders) do
      local name = f:match("^examples/([^/]+)/")
      assert.truthy(text:find("**" .. name .. "**", 1, true), name .. " is not described")
    end
  end)
end)
