--[[ Read the counters of some SKUs of ONE partition together with the partition's sequence, in one
atomic step, so a rebuilding replica knows exactly which change records each SKU already reflects.
KEYS  1 partition meta, then the counters hash of each SKU
ARGV  1 generation expected
Reply {0, seq, text}: for each SKU in KEYS order, the number of integers of its hash followed by its
fields and values, all comma-separated (one numpy parse per call); or {-1, live generation}. ]]

local meta = redis.call('HMGET', KEYS[1], 'gen', 'seq')
if meta[1] ~= ARGV[1] then
  return {-1, meta[1] or ''}
end
local parts = {}
for i = 2, #KEYS do
  local all = redis.call('HGETALL', KEYS[i])
  parts[#parts + 1] = #all
  if #all > 0 then parts[#parts + 1] = table.concat(all, ',') end
end
return {0, tonumber(meta[2]) or 0, table.concat(parts, ',')}
