-- wrk script of contrib/bench/run.sh: POST unique structured CloudEvents
-- of about 1 KiB to herald's /v1/events, one per request or a batch.
--
--   wrk -t2 -c64 -d10s --latency -s ingest.lua http://HOST:PORT/v1/events \
--       -- KEY RUNID [BATCH] [TYPE]
--
-- KEY: the API key; RUNID: a prefix that makes the ids of this run unique
-- (the script adds a random part of its own, the wrk thread number and a
-- counter); BATCH: 1 (default) posts application/cloudevents+json, more
-- posts that many events per request as application/cloudevents-batch+json;
-- TYPE: the event type (default bench.ingest).  The events have the same
-- shape as the ones contrib/bench/e2e.c sends.
--
-- done() prints one line for run.sh:
--   RESULT requests=N seconds=S status_errors=N socket_errors=N p50_us=N p99_us=N

local threads = {}
local counter = 0

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local event_bytes = 1024
local key, runid, batch, etype, rnd
local headers

function init(args)
   key = args[1] or ""
   runid = args[2] or "run"
   batch = tonumber(args[3] or "1")
   etype = args[4] or "bench.ingest"
   math.randomseed(os.time() * 1000 + tid)
   rnd = string.format("%06x", math.random(0, 0xffffff))
   local ctype = "application/cloudevents+json"
   if batch > 1 then
      ctype = "application/cloudevents-batch+json"
   end
   headers = {
      ["Content-Type"] = ctype,
      ["Authorization"] = "Bearer " .. key,
   }
end

local function event()
   counter = counter + 1
   local n = counter
   local head = string.format(
      '{"specversion":"1.0","type":"%s","source":"/bench/publisher",'
      .. '"id":"%s-%s-%d-%d","time":"2024-05-01T12:00:00Z",'
      .. '"subject":"order/%d","datacontenttype":"application/json",'
      .. '"tenant":"acme","region":"eu-west-1",'
      .. '"data":{"order":%d,"customer":"c-%d","currency":"EUR",'
      .. '"total":4217,"note":"',
      etype, runid, rnd, tid, n, n, n, n % 1000)
   local pad = event_bytes - #head - 3
   if pad < 0 then
      pad = 0
   end
   return head .. string.rep("x", pad) .. '"}}'
end

function request()
   local body
   if batch > 1 then
      local parts = {}
      for i = 1, batch do
         parts[i] = event()
      end
      body = "[" .. table.concat(parts, ",") .. "]"
   else
      body = event()
   end
   return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
   local s = summary.errors
   io.write(string.format(
      "RESULT requests=%d seconds=%.3f status_errors=%d socket_errors=%d"
      .. " p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration / 1e6, s.status,
      s.connect + s.read + s.write + s.timeout,
      latency:percentile(50), latency:percentile(99)))
end
