-- bench/echo.lua — wrk script: POST real XML-RPC calls to /RPC2.
--
-- Environment (set by bench/run):
--   BENCH_BODY      file holding one methodCall body, sent on every request
--   BENCH_TEMPLATE  or: a methodCall body with %ID% in it, and
--   BENCH_IDS       a file of ids, one a line; each request picks one at random
--                   (the "calls to random targets" row)
--   BENCH_AUTH      the Authorization header value ("Basic ..."), if any
--   BENCH_CLOSE     "1" to send Connection: close (one TLS handshake per call)
--
-- Bodies are built once per wrk thread at load time, so the script costs the
-- load generator no more than a fixed body would.

local function slurp(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. path)
  local s = f:read("*a")
  f:close()
  return s
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
if os.getenv("BENCH_CLOSE") == "1" then
  wrk.headers["Connection"] = "close"
end

local template = os.getenv("BENCH_TEMPLATE")
local requests = nil

if template and template ~= "" then
  local tpl = slurp(template)
  requests = {}
  for id in io.lines(os.getenv("BENCH_IDS")) do
    if id ~= "" then
      local body = tpl:gsub("%%ID%%", id)
      requests[#requests + 1] = wrk.format(nil, nil, nil, body)
    end
  end
  assert(#requests > 0, "BENCH_IDS is empty")
else
  wrk.body = slurp(assert(os.getenv("BENCH_BODY"), "BENCH_BODY not set"))
end

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 1000)
end

if requests then
  function request()
    return requests[math.random(#requests)]
  end
end
