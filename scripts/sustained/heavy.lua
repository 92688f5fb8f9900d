-- wrk script: POST /v1/decide (five placements) for the 1,000 most active shoppers of
-- `tailor bench --shape skewed` (its shopper of rank r is anon-((r * 7919 + 13) % 100000)),
-- with the server key in TAILOR_KEY: the long-session visitors the uniform shape never has.
local key = os.getenv("TAILOR_KEY") or ""
local n = 0
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}
request = function()
  n = n + 1
  local body = string.format(
    '{"anonymousId":"anon-%d","placements":["home.hero","nav.categories","promo.banner","recs.home","checkout.flow"]}',
    ((n % 1000) * 7919 + 13) % 100000)
  return wrk.format("POST", "/v1/decide", headers, body)
end
