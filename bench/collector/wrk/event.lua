-- wrk script of the collector benchmark (scripts/bench-collector.sh).
--
--   wrk ... -s event.lua URL -- MODE [BATCH] [RUNID] [AUTH]
--
-- MODE is "track" (one ~1 KB Segment track event per request) or "batch"
-- (a /v1/batch body of BATCH events, default 20). Every event gets a
-- messageId unique across threads and runs: RUNID-thread-counter[-i].
-- AUTH, when given, is sent as the Authorization header as is.
-- The event is the one of bench/collector/loadgen/body.go: keep in sync.
-- At the end it prints one machine-readable line, latencies in µs:
--   RESULT requests=… duration_us=… non2xx=… errors=… p50_us=… p99_us=… max_us=…

local head = '{"type":"track","messageId":"'
local tail = '","anonymousId":"3f1c2a8e-5d4b-4e8f-9a21-7c3b6d0e1f42","event":"Product Added",' ..
  '"properties":{"product_id":"p-1001","sku":"TEE-BLU-M","name":"Blue tee","brand":"Sillage","category":"apparel.tshirt",' ..
  '"variant":"blue","size":"M","price":19.9,"currency":"EUR","quantity":1,"position":3,"list_id":"summer-sale","coupon":"SUMMER10"},' ..
  '"timestamp":"2024-06-01T11:59:58.250Z","sentAt":"2024-06-01T11:59:59Z",' ..
  '"context":{"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",' ..
  '"locale":"fr-FR","timezone":"Europe/Paris","library":{"name":"sillage.js","version":"0.1.0"},' ..
  '"screen":{"width":1920,"height":1080,"density":1},' ..
  '"page":{"url":"https://shop.example/p/1001?utm_source=newsletter&utm_medium=email","path":"/p/1001","referrer":"https://www.google.com/",' ..
  '"title":"Blue tee - Sillage shop","search":"?utm_source=newsletter&utm_medium=email"},' ..
  '"campaign":{"source":"newsletter","medium":"email","name":"summer-sale"},' ..
  '"consent":{"categoryPreferences":{"analytics":true,"marketing":false,"advertising":false,"functional":true}}}}'

local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

local mode, size, prefix, counter = "track", 20, "", 0

function init(args)
  mode = args[1] or "track"
  size = tonumber(args[2] or "20")
  prefix = (args[3] or tostring(os.time())) .. "-" .. tostring(tid) .. "-"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[4] and args[4] ~= "" then
    wrk.headers["Authorization"] = args[4]
  end
end

function request()
  counter = counter + 1
  local id = prefix .. counter
  local body
  if mode == "batch" then
    local parts = {}
    for i = 1, size do
      parts[i] = head .. id .. "-" .. i .. tail
    end
    body = '{"sentAt":"2024-06-01T11:59:59Z","batch":[' .. table.concat(parts, ",") .. "]}"
  else
    body = head .. id .. tail
  end
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
