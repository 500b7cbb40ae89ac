# azd postdeploy hook on Windows (azure.yaml); same steps as postdeploy.sh.
# Subscribes the event-based Blob triggers (functions/master_data.py) to the
# storage account's Event Grid system topic, once the deployed host has created
# its `blobs_extension` key. The subscriptions are a Bicep deployment
# (blob-subscriptions.bicep), so the key stays inside ARM and no URL with '&'
# has to survive Windows command-line quoting. Needs the Azure CLI (`az login`).
$ErrorActionPreference = 'Stop'

$attempts = if ($env:BLOBS_KEY_ATTEMPTS) { [int]$env:BLOBS_KEY_ATTEMPTS } else { 20 }
$pause = if ($env:BLOBS_KEY_PAUSE_SECONDS) { [int]$env:BLOBS_KEY_PAUSE_SECONDS } else { 15 }

function Fail([string]$message) {
    Write-Error "postdeploy: $message" -ErrorAction Continue
    exit 1
}

if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
    Fail "the Azure CLI (az) is needed to create the Event Grid subscriptions; install it, run 'az login', then 'azd deploy'"
}

# azd passes its environment's values (main.bicep outputs) to hooks.
$required = 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_NAME', 'AZURE_FUNCTION_URI', 'AZURE_STORAGE_ACCOUNT_NAME',
            'EVENTGRID_SYSTEM_TOPIC_NAME', 'EVENTGRID_DEADLETTER_CONTAINER'
foreach ($name in $required) {
    if (-not [Environment]::GetEnvironmentVariable($name)) {
        Fail "$name is not set: run this through azd ('azd up' or 'azd deploy') after 'azd provision'"
    }
}

function Test-BlobsKey {
    # Prints only true/false: the key itself is not read here.
    # try: Windows PowerShell turns redirected stderr into errors, which 'Stop' would throw.
    try {
        $present = az functionapp keys list --resource-group $env:AZURE_RESOURCE_GROUP --name $env:AZURE_FUNCTION_NAME `
            --query "systemKeys.blobs_extension != null" --output tsv 2>$null
        return ($LASTEXITCODE -eq 0 -and "$present".Trim() -eq 'true')
    } catch {
        return $false
    }
}

Write-Host "postdeploy: waiting for the blob extension key of $env:AZURE_FUNCTION_NAME"
$tries = 0
while (-not (Test-BlobsKey)) {
    $tries++
    if ($tries -ge $attempts) {
        Fail "no 'blobs_extension' key on $env:AZURE_FUNCTION_NAME after $attempts checks; check that the app started (Application Insights), then run 'azd deploy' again"
    }
    # Any request starts an instance on Flex Consumption; its host creates the key
    # when the blob extension starts. The answer (401 without a key) does not matter.
    try { Invoke-WebRequest -Uri "$env:AZURE_FUNCTION_URI/api/health" -Method Get -TimeoutSec 30 -UseBasicParsing | Out-Null } catch { }
    Start-Sleep -Seconds $pause
}

# Event Grid validates the webhook while the subscription is created; a host
# that is still warming up can fail that once, so the deployment is retried.
$template = Join-Path $PSScriptRoot 'blob-subscriptions.bicep'
$tries = 0
while ($true) {
    az deployment group create `
        --resource-group $env:AZURE_RESOURCE_GROUP `
        --name blob-subscriptions `
        --template-file $template `
        --parameters "functionAppName=$env:AZURE_FUNCTION_NAME" `
                     "systemTopicName=$env:EVENTGRID_SYSTEM_TOPIC_NAME" `
                     "storageAccountName=$env:AZURE_STORAGE_ACCOUNT_NAME" `
                     "deadLetterContainerName=$env:EVENTGRID_DEADLETTER_CONTAINER" `
        --only-show-errors --output none
    if ($LASTEXITCODE -eq 0) { break }
    $tries++
    if ($tries -ge 3) { Fail "creating the Event Grid subscriptions failed 3 times; see the errors above" }
    Write-Host "postdeploy: retrying in ${pause}s"
    Start-Sleep -Seconds $pause
}

Write-Host "postdeploy: blob triggers subscribed (BlobCreated on project-master, item-catalog, stock-snapshots, reorder-policy)"
