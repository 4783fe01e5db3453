# Wirefleet agent installer for Windows (run as Administrator):
#   & ([scriptblock]::Create((irm https://SERVER/install.ps1))) -Server https://SERVER -Token wfe_... [-Pin sha256/...]
# Downloads the MSI from the server and installs it silently with the
# SERVER, TOKEN and PIN properties; the MSI installs the agent service.
param(
    [Parameter(Mandatory = $true)][string]$Server,
    [Parameter(Mandatory = $true)][string]$Token,
    [string]$Pin = "",
    [string]$Channel = "stable"
)
$ErrorActionPreference = "Stop"
$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw "wirefleet: run PowerShell as Administrator"
}
$Server = $Server.TrimEnd("/")
$arch = if ($env:PROCESSOR_ARCHITECTURE -eq "ARM64") { "arm64" } else { "amd64" }
$msi = Join-Path $env:TEMP "wirefleet-agent.msi"
Write-Host "wirefleet: downloading the $Channel MSI for windows/$arch"
$index = (Invoke-WebRequest -UseBasicParsing "$Server/releases/channel/$Channel/windows/$arch-msi").Content.Trim().Split(" ")
Invoke-WebRequest -UseBasicParsing "$Server/releases/files/$($index[3])" -OutFile $msi
$sum = (Get-FileHash -Algorithm SHA256 $msi).Hash.ToLower()
if ($sum -ne $index[1]) { throw "wirefleet: SHA-256 mismatch; nothing was installed" }
$args = @("/i", "`"$msi`"", "SERVER=$Server", "TOKEN=$Token", "/qn", "/norestart")
if ($Pin) { $args += "PIN=$Pin" }
$p = Start-Process msiexec.exe -ArgumentList $args -Wait -PassThru
if ($p.ExitCode -ne 0) { throw "wirefleet: msiexec failed with exit code $($p.ExitCode)" }
Write-Host "wirefleet: installed; the agent service is running"
