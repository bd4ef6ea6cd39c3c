-- se.secret(NAME): the variable, else NAME_FILE, else $CREDENTIALS_DIRECTORY/NAME;
-- masked in every log line and in the error the host prints.
local testenv = dofile("tests/lib/testenv.lua")

-- Runs Lua code in a salesengine process with env (false unsets a variable).
local function run(code, env)
  local base = { WAREHOUSE_DSN = false, WAREHOUSE_DSN_FILE = false, CREDENTIALS_DIRECTORY = false }
  for k, v in pairs(env or {}) do
    base[k] = v
  end
  return testenv.salesengine({ "-e", code }, { env = base })
end

local PRINT = 'io.write("[", require("salesengine").secret("WAREHOUSE_DSN"), "]")'

describe("se.secret", function()
  local dir
  before_each(function() dir = testenv.tmpdir() end)
  after_each(function() testenv.rm_rf(dir) end)

  it("reads the variable first", function()
    testenv.write_file(dir .. "/f", "from-file\n")
    local r = run(PRINT, { WAREHOUSE_DSN = "from-env", WAREHOUSE_DSN_FILE = dir .. "/f" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("[from-env]", r.stdout)
  end)

  it("else the file NAME_FILE names, without its trailing newline", function()
    testenv.write_file(dir .. "/f", "host=db password=s3cret-file\r\n")
    testenv.write_file(dir .. "/WAREHOUSE_DSN", "from-credential")
    local r = run(PRINT, { WAREHOUSE_DSN_FILE = dir .. "/f", CREDENTIALS_DIRECTORY = dir })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("[host=db password=s3cret-file]", r.stdout)
  end)

  it("else the systemd credential $CREDENTIALS_DIRECTORY/NAME", function()
    testenv.write_file(dir .. "/WAREHOUSE_DSN", "host=db password=cred\nsecond line\n")
    local r = run(PRINT, { CREDENTIALS_DIRECTORY = dir })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("[host=db password=cred\nsecond line]", r.stdout)
  end)

  it("ends the run with the usage code when it is set nowhere, or empty", function()
    local r = run(PRINT, { CREDENTIALS_DIRECTORY = dir })
    assert.are.equal(2, r.code)
    assert.are.equal("salesengine: secret WAREHOUSE_DSN is not set (set WAREHOUSE_DSN, WAREHOUSE_DSN_FILE, "
      .. "or a systemd credential WAREHOUSE_DSN)\n", r.stderr)
    testenv.write_file(dir .. "/empty", "\n")
    r = run(PRINT, { WAREHOUSE_DSN_FILE = dir .. "/empty" })
    assert.are.equal(2, r.code)
    assert.matches("secret WAREHOUSE_DSN is empty %(from WAREHOUSE_DSN_FILE", r.stderr)
  end)

  it("names a NAME_FILE it cannot read", function()
    local r = run(PRINT, { WAREHOUSE_DSN_FILE = dir .. "/missing" })
    assert.are.equal(2, r.code)
    assert.matches("cannot read secret WAREHOUSE_DSN from .*/missing: No such file", r.stderr)
  end)

  it("raises in Lua's form for a bad name", function()
    local r = run('require("salesengine").secret(42)')
    assert.are.equal(1, r.code)
    assert.matches("bad argument #1 to 'secret' %(string expected, got number%)", r.stderr)
    r = run('require("salesengine").secret("A-B")')
    assert.matches("bad argument #1 to 'secret' %(not a variable name: 'A%-B'%)", r.stderr)
  end)

  it("is masked in log lines, JSON logs and the final error", function()
    testenv.write_file(dir .. "/WAREHOUSE_DSN", "postgresql://etl:pw-Zq81@db/warehouse\n")
    local code = [[
      local se, log = require "salesengine", require "salesengine.log"
      local dsn = se.secret("WAREHOUSE_DSN")
      log.info("connecting to " .. dsn, { dsn = dsn, note = "x" .. dsn .. "y" })
      log.configure({ format = "json" })
      log.warn("again", { dsn = dsn })
      error("could not use " .. dsn)
    ]]
    local r = run(code, { CREDENTIALS_DIRECTORY = dir })
    assert.are.equal(1, r.code)
    assert.is_nil(r.stderr:find("pw-Zq81", 1, true))
    assert.matches('msg="connecting to %*%*%*" dsn=%*%*%* note=x%*%*%*y', r.stderr)
    assert.matches('"msg":"again","dsn":"%*%*%*"', r.stderr)
    assert.matches("salesengine: %(command line%):6: could not use %*%*%*", r.stderr)
  end)
end)
