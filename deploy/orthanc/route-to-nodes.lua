-- Orthanc routes each brain MR study to one of several synthesis nodes, always the same node for one study.
--
-- The nodes are Orthanc's DICOM modalities whose names start with "synth-" (e.g. "synth-1", "synth-2" in
-- DicomModalities). A study's node is a hash of its StudyInstanceUID modulo their number, so a series that
-- arrives late reaches the node that holds the rest. A study is routed when it is stable (Orthanc's StableAge),
-- all its acquired series in one transfer, so that the node sees them together; a series added later is routed
-- when the study is stable again. What a node made (Manufacturer "mri-synth-node") is never routed back, which
-- would loop. A transfer that failed (a node down) is submitted again each time a study becomes stable, and can
-- be resubmitted by hand in Orthanc Explorer's job list. Series routed are remembered in memory: after an Orthanc
-- restart a study may be sent once more, which the node recognises as a study it has already processed.
-- Adding or removing a node moves studies between nodes: change the list when no study is in flight.

local NODE_PREFIX = 'synth-'
local NODE_MANUFACTURER = 'mri-synth-node'
routedSeries = routedSeries or {}
failedJobs = failedJobs or {}

function StableIndex(text, count)
  -- The same in every Orthanc process and version (Lua 5.1 numbers are doubles: 2^31 * 31 + 255 stays exact).
  local hash = 0
  for i = 1, #text do
    hash = (hash * 31 + string.byte(text, i)) % 2147483647
  end
  return hash % count + 1
end

function SynthesisNodes()
  local nodes = {}
  for _, name in ipairs(ParseJson(RestApiGet('/modalities'))) do
    if string.sub(name, 1, #NODE_PREFIX) == NODE_PREFIX then
      table.insert(nodes, name)
    end
  end
  table.sort(nodes)
  return nodes
end

function ResubmitFailed()
  local pending = failedJobs
  failedJobs = {}
  for _, job in ipairs(pending) do
    print('route-to-nodes: resubmitting failed transfer ' .. job)
    RestApiPost('/jobs/' .. job .. '/resubmit', '')
  end
end

function OnStableStudy(studyId, tags, metadata)
  ResubmitFailed()
  local series = {}
  for _, s in ipairs(ParseJson(RestApiGet('/studies/' .. studyId .. '/series'))) do
    if s['MainDicomTags']['Manufacturer'] ~= NODE_MANUFACTURER and not routedSeries[s['ID']] then
      table.insert(series, s['ID'])
    end
  end
  if #series == 0 then
    return
  end
  local nodes = SynthesisNodes()
  if #nodes == 0 then
    print('route-to-nodes: no DICOM modality named ' .. NODE_PREFIX .. '*: study ' .. studyId .. ' not routed')
    return
  end
  local node = nodes[StableIndex(tags['StudyInstanceUID'], #nodes)]
  RestApiPost('/modalities/' .. node .. '/store', DumpJson({ Resources = series, Synchronous = false }, true))
  for _, id in ipairs(series) do
    routedSeries[id] = true
  end
end

function OnJobFailure(jobId)
  local job = ParseJson(RestApiGet('/jobs/' .. jobId))
  if job['Type'] == 'DicomModalityStore' then
    table.insert(failedJobs, jobId)
  end
end
