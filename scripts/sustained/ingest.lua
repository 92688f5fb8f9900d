-- wrk script: POST /v1/batch with 50 new events per request (unique messageIds: this
-- connection's id, a counter, and the run's start), for anon-0 … anon-99999, with the
-- server key in TAILOR_KEY. One connection is a steady batch ingest.
local key = os.getenv("TAILOR_KEY") or ""
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}
local run = os.time()
local n = 0
local events = {"Product Viewed", "Product Viewed", "Product Viewed", "Product Added", "Products Searched", "Order Completed"}
request = function()
  local parts = {}
  for i = 1, 50 do
    n = n + 1
    local cat = n % 24
    parts[i] = string.format(
      '{"type":"track","messageId":"sus-%d-%d","anonymousId":"anon-%d","event":"%s","properties":{"product_id":"sku-%d","category":"Top%d/Leaf%d","price":%d}}',
      run, n, (n * 104729) % 100000, events[(n % #events) + 1], (n * 31) % 5000, math.floor(cat / 4), cat, 5 + n % 295)
  end
  return wrk.format("POST", "/v1/batch", headers, '{"batch":[' .. table.concat(parts, ",") .. ']}')
end
