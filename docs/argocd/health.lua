-- Argo CD health check for bulletin.dev/ReportSchedule (see docs/gitops.md).
-- Healthy: Ready. Progressing: a spec not yet applied, or no conditions yet.
-- Suspended: spec.suspend. Degraded: Stalled (invalid spec, a name conflict, a refused object,
-- an unusable Secret, or runs paused after repeated failures).
local hs = {status = "Progressing", message = "Waiting for the operator"}
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true"
  return hs
end
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if obj.status.observedGeneration ~= nil and generation ~= nil
    and obj.status.observedGeneration < generation then
  hs.message = "Waiting for the operator to apply generation " .. tostring(generation)
  return hs
end
local ready, stalled = nil, nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then ready = condition end
  if condition.type == "Stalled" then stalled = condition end
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end
if ready ~= nil then
  hs.message = (ready.reason or "NotReady") .. ": " .. (ready.message or "")
end
return hs
