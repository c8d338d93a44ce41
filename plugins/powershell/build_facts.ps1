# hygiene.winpatch script: build_facts v1
# Reads what decides patch compliance, in one round trip, and changes nothing.
#
# Parameters: one JSON document on stdin; none are used yet ({}), unknown keys are ignored.
# Result: exactly one JSON document on stdout (contract: docs/developing.md, "build_facts").
#
# What is read:
#   registry        HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion
#                   CurrentBuild, CurrentBuildNumber, UBR, DisplayVersion, EditionID, InstallationType,
#                   ProductName, ReleaseId (the build is 10.0.<CurrentBuild>.<UBR>; ProductName is not trusted)
#   pending_reboot  cbs_reboot_pending      key HKLM:\...\CurrentVersion\Component Based Servicing\RebootPending
#                   wu_reboot_required      key HKLM:\...\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired
#                   pending_file_rename     value PendingFileRenameOperations under Control\Session Manager
#                   pending_computer_rename ActiveComputerName differs from ComputerName under Control\ComputerName
#   policy          HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate (WSUS and WUfB values) and its AU subkey
#   hotpatch        Windows keeps no documented local value for "this device is in a hotpatch policy", so
#                   enrolled means eligible: an eligible edition (Server 2022 Azure Edition, or build 26100+
#                   Enterprise, Education, Server Datacenter/Standard) with virtualization-based security running
#                   (Win32_DeviceGuard), and on Arm64 HotPatchRestrictions=1 (CHPE off).
#   last_boot       Win32_OperatingSystem.LastBootUpTime, as UTC ISO 8601
# Sent compacted (comment lines and indentation dropped, see _scripts.compact_script) so that the
# -EncodedCommand line stays under cmd.exe's 8191-character limit: keep the code short.
Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

# One registry value, or $null when the key or the value does not exist.
function Get-RegValue([string]$Path, [string]$Name) {
    $item = Get-ItemProperty -LiteralPath $Path -Name $Name -EA 0
    if ($null -eq $item) { return $null }
    return $item.$Name
}

# Several values of one key, as an ordered map name -> value.
function Get-RegValues([string]$Path, [string[]]$Names) {
    $map = [ordered]@{}
    foreach ($n in $Names) { $map[$n] = Get-RegValue $Path $n }
    return $map
}

try {
    # Parameters: read them so the contract holds, even though none are used yet.
    $raw = [Console]::In.ReadToEnd()
    if ($raw.Trim()) { $null = ConvertFrom-Json -InputObject $raw }
    $hklm = 'HKLM:\SOFTWARE\Microsoft\Windows'
    $ctl = 'HKLM:\SYSTEM\CurrentControlSet\Control'

    # The OS build and identity.
    $registry = Get-RegValues "$hklm NT\CurrentVersion" @('CurrentBuild', 'CurrentBuildNumber', 'UBR',
        'DisplayVersion', 'EditionID', 'InstallationType', 'ProductName', 'ReleaseId')

    # The pending-reboot signals; any one of them means the host waits for a restart.
    $renames = @(Get-RegValue "$ctl\Session Manager" 'PendingFileRenameOperations') | Where-Object { $_ }
    $active = Get-RegValue "$ctl\ComputerName\ActiveComputerName" 'ComputerName'
    $next = Get-RegValue "$ctl\ComputerName\ComputerName" 'ComputerName'
    $pending = [ordered]@{
        cbs_reboot_pending = Test-Path -LiteralPath "$hklm\CurrentVersion\Component Based Servicing\RebootPending"
        wu_reboot_required = Test-Path -LiteralPath "$hklm\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired"
        pending_file_rename = @($renames).Count -gt 0
        pending_computer_rename = [bool]($active -and $next -and $active -ne $next)
    }
    $pending.any = $pending.Values -contains $true

    # The WSUS / Windows Update for Business policy values (null when not set).
    $wup = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate'
    $policy = Get-RegValues $wup @('WUServer', 'WUStatusServer', 'TargetGroup', 'DeferQualityUpdatesPeriodInDays',
        'PauseQualityUpdatesStartTime', 'DisableDualScan')
    foreach ($n in 'UseWUServer', 'NoAutoUpdate', 'AUOptions') { $policy[$n] = Get-RegValue "$wup\AU" $n }

    # Hotpatch eligibility: edition and build, virtualization-based security, and CHPE off on Arm64.
    $os = Get-CimInstance Win32_OperatingSystem -Property LastBootUpTime
    $guard = Get-CimInstance Win32_DeviceGuard -Namespace root\Microsoft\Windows\DeviceGuard -EA 0
    $vbs = [bool]($guard -and $guard.VirtualizationBasedSecurityStatus -eq 2)
    $ed = [string]$registry['EditionID']
    $eligible = ($ed -like 'ServerTurbine*') -or ([int]('0' + $registry['CurrentBuild']) -ge 26100 -and
        $ed -match '^(Enterprise|Education|IoTEnterprise|ServerDatacenter|ServerStandard)')
    $chpeOff = $env:PROCESSOR_ARCHITECTURE -ne 'ARM64' -or
        (Get-RegValue "$ctl\Session Manager\Memory Management" 'HotPatchRestrictions') -eq 1
    $hotpatch = [ordered]@{ enrolled = [bool]($eligible -and $vbs -and $chpeOff); eligible_edition = [bool]$eligible
        vbs_running = $vbs }

    # One JSON document out, with the last boot time in UTC.
    $result = [ordered]@{ computer_name = $env:COMPUTERNAME; registry = $registry; pending_reboot = $pending
        policy = $policy; hotpatch = $hotpatch
        last_boot = $os.LastBootUpTime.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ') }
    [Console]::Out.Write((ConvertTo-Json $result -Compress -Depth 4))
    exit 0
}
catch {
    # The failure document of the contract; HResult is the Windows code of the error.
    $failure = @{ failed = $true; msg = "Failed to read the build facts: $($_.Exception.Message)"
        code = $_.Exception.HResult }
    [Console]::Out.Write((ConvertTo-Json $failure -Compress))
    exit 1
}
