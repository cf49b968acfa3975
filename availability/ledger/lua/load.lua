--[[ Write the counters of a chunk of SKUs of a generation being loaded (not live yet: nobody reads or
writes these keys until the generation switch), from packed rows: one HSET per SKU, no per-position
round trip. Every SKU gets the sentinel field even without positions.
KEYS  the counters hash of each SKU of the chunk (sku i below is KEYS[i + 1])
ARGV  1 positions, packed '<i4i4i4i4' (sku 0-based, location, on hand, safety stock or -1), sorted by sku
      2 ring-fences, packed '<i4i4i4i4' (sku 0-based, channel, quantity, consumed), sorted by sku
Reply the number of fields written. ]]

local CHUNK = 4000
local args = {}
for i = 1, #KEYS do args[i] = {-1, 0} end
local written = 0
local function flush(s)
  local a = args[s + 1]
  redis.call('HSET', KEYS[s + 1], unpack(a))
  written = written + #a / 2
  args[s + 1] = {}
end
local pos, at = ARGV[1], 1
for _ = 1, #pos / 16 do
  local s, loc, on_hand, safety
  s, loc, on_hand, safety, at = struct.unpack('<i4i4i4i4', pos, at)
  local a = args[s + 1]
  a[#a + 1] = 4 * loc
  a[#a + 1] = on_hand
  if safety >= 0 then
    a[#a + 1] = 4 * loc + 2
    a[#a + 1] = safety
  end
  if #a >= CHUNK then flush(s) end
end
local fences = ARGV[2]
at = 1
for _ = 1, #fences / 16 do
  local s, ch, qty, used
  s, ch, qty, used, at = struct.unpack('<i4i4i4i4', fences, at)
  local a = args[s + 1]
  a[#a + 1] = -2 - 2 * ch
  a[#a + 1] = qty
  a[#a + 1] = -3 - 2 * ch
  a[#a + 1] = used
  if #a >= CHUNK then flush(s) end
end
for i = 1, #KEYS do
  if #args[i] > 0 then flush(i - 1) end
end
return written
