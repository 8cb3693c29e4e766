-- bench/pktgen/inline.lua: the RFC 2544 zero-loss search of bench/inline.py, run inside
-- Pktgen-DPDK (23.03 to 23.06, built against DPDK 22.11: docs/benchmarks.md).
--
-- Port 0 sends through the device under test, port 1 receives what it forwards. A trial
-- sends for INLINE_SECONDS at a rate (percent of port 0's link speed), stops, waits for
-- the device to drain, and compares port 0's opackets with port 1's ipackets. One trial at
-- 100 % gives the ceiling; then a binary search, to within INLINE_RESOLUTION (a fraction)
-- of its upper end, for the highest rate that lost nothing. The latency sampler (where this
-- pktgen has it) records one-way latencies on port 1 during a last trial at the rate found,
-- into INLINE_LATENCY_FILE. Prints `inline-trial ...` lines and, last,
-- `inline-result zero_loss_pps=N pct=P`, then quits.
--
-- bench/inline.py writes the globals and dofile()s this script:
--   INLINE_SECONDS = 2; INLINE_RESOLUTION = 0.02; INLINE_LATENCY_FILE = "/tmp/lat.txt"
--   INLINE_GO_FILE = "/tmp/go"   (optional: wait until this file exists)

-- Pktgen.lua (helpers of pktgen's source tree) is not needed; the `pktgen` table is built in.
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
pcall(require, "Pktgen")

local send, recv = "0", "1"
local seconds = INLINE_SECONDS or 2
local resolution = INLINE_RESOLUTION or 0.02
-- After a stop: the device drains, and pktgen refreshes its port counters (once a second).
local drain_ms = 1500

local function counts()
  local tx = pktgen.portStats(send, "port")[tonumber(send)].opackets
  local rx = pktgen.portStats(recv, "port")[tonumber(recv)].ipackets
  return tx, rx
end

-- One trial at `pct` percent: returns packets per second offered and packets lost.
local function trial(pct)
  pktgen.set(send, "rate", pct)
  local tx0, rx0 = counts()
  pktgen.start(send)
  pktgen.delay(seconds * 1000)
  pktgen.stop(send)
  pktgen.delay(drain_ms)
  local tx1, rx1 = counts()
  local sent, got = tx1 - tx0, rx1 - rx0
  local pps = sent / seconds
  print(string.format("inline-trial pct=%.2f offered_pps=%.0f sent=%d received=%d lost=%d",
                      pct, pps, sent, got, sent - got))
  return pps, sent - got
end

-- bench/inline.py starts pktgen first (it is the server of both links) and creates
-- INLINE_GO_FILE once the device under test forwards.
if INLINE_GO_FILE then
  while true do
    local f = io.open(INLINE_GO_FILE, "r")
    if f then f:close() break end
    pktgen.delay(100)
  end
end

pktgen.set(send, "count", 0)
pktgen.set(send, "burst", 32)
pktgen.clear("all")

local best_pps, best_pct = 0, 0
local ceiling_pps, lost = trial(100)
if lost <= 0 then
  best_pps, best_pct = ceiling_pps, 100
else
  -- Relative to the upper end: on slow links (veth) the zero-loss rate is a small percent
  -- of the nominal link speed pktgen's rates refer to. At most 20 trials.
  local lo, hi, n = 0, 100, 0
  while hi - lo > resolution * hi and n < 20 do
    n = n + 1
    local mid = (lo + hi) / 2
    local pps, l = trial(mid)
    if l <= 0 then
      lo = mid
      if pps > best_pps then best_pps, best_pct = pps, mid end
    else
      hi = mid
    end
  end
end

-- Latency at the rate found, where the sampler exists (pcall: older pktgens lack it).
if INLINE_LATENCY_FILE and best_pct > 0 then
  pcall(pktgen.latency, send, "enable")
  pcall(pktgen.latency, recv, "enable")
  local ok = pcall(pktgen.latsampler_params, recv, "simple", 10000, 1000, INLINE_LATENCY_FILE)
  if ok then
    pcall(pktgen.latsampler, recv, "on")
    trial(best_pct)
    pcall(pktgen.latsampler, recv, "off")
  end
end

print(string.format("inline-result zero_loss_pps=%.0f pct=%.2f", best_pps, best_pct))
pktgen.quit()
