-- Argo CD health check for bulletin.dev/ReportSchedule (docs/gitops.md has the table and reasons).
-- In order, first match wins:
--   no conditions yet, or metadata.generation newer than status.observedGeneration -> Progressing
--   Stalled=True (invalid spec, unusable reference, refused object, runner pod policy,
--     paused after repeated failures) -> Degraded, whatever spec.suspend says (kstatus: Failed)
--   spec.suspend: true -> Suspended
--   Ready=True and status.lastRun.result Failed or PartiallyDelivered -> Degraded, as Argo CD's
--     CronJob check says of a failed last Job (kstatus: Current, a run is not a reconcile);
--     the message names the run and gives the first line of its message
--   Ready=True -> Healthy
--   otherwise -> Progressing with Ready's reason and message
local hs = {status = "Progressing", message = "Waiting for the operator"}
local status = obj.status
if status == nil or status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if status.observedGeneration ~= nil and generation ~= nil
    and status.observedGeneration < generation then
  hs.message = "Waiting for the operator to apply generation " .. tostring(generation)
  return hs
end
local ready, stalled = nil, nil
for _, condition in ipairs(status.conditions) do
  if condition.type == "Ready" then ready = condition end
  if condition.type == "Stalled" then stalled = condition end
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true"
  return hs
end
if ready ~= nil and ready.status == "True" then
  local last = status.lastRun
  if last ~= nil and (last.result == "Failed" or last.result == "PartiallyDelivered") then
    hs.status = "Degraded"
    hs.message = "Last run " .. tostring(last.runId) .. " " .. last.result
    -- The first line of the run's message (kubectl bulletin history shows all of it).
    local why = string.match(last.message or "", "^[^\n]*")
    if why ~= "" then
      hs.message = hs.message .. ": " .. why
    end
    return hs
  end
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end
if ready ~= nil then
  hs.message = (ready.reason or "NotReady") .. ": " .. (ready.message or "")
end
return hs
