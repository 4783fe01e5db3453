package facts

import (
	"context"
	"strings"

	"github.com/yusufpapurcu/wmi"
	"golang.org/x/sys/windows/registry"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// collectOS reads what gopsutil does not tell on Windows, from the OS's
// own interfaces (no commands run): disks and their BitLocker protection
// (WMI's Win32_EncryptableVolume, which needs the agent's SYSTEM
// account), Windows Defender Firewall's profiles (the registry), and the
// SMBIOS identity (WMI), which names the cloud as on Linux.
func collectOS(ctx context.Context, src Sources, f *wire.Facts) {
	if !src.Live {
		return
	}
	f.Disks = gopsutilDisks(ctx)
	var vols []bitLockerVolume
	if wmi.QueryNamespace("SELECT DriveLetter, ProtectionStatus FROM Win32_EncryptableVolume", &vols, `root\CIMV2\Security\MicrosoftVolumeEncryption`) == nil {
		markEncrypted(f.Disks, bitLocker(vols))
	}
	profiles := map[string]uint32{}
	for _, p := range []string{"DomainProfile", "StandardProfile", "PublicProfile"} {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\`+p, registry.QUERY_VALUE)
		if err != nil {
			continue
		}
		if v, _, err := k.GetIntegerValue("EnableFirewall"); err == nil {
			profiles[p] = uint32(v)
		}
		k.Close()
	}
	f.Firewall = windowsFirewall(profiles)

	var product []struct{ UUID, Vendor, Name string }
	var bios []struct{ SerialNumber, Manufacturer string }
	var enclosure []struct{ SMBIOSAssetTag string }
	wmi.Query("SELECT UUID, Vendor, Name FROM Win32_ComputerSystemProduct", &product)
	wmi.Query("SELECT SerialNumber, Manufacturer FROM Win32_BIOS", &bios)
	wmi.Query("SELECT SMBIOSAssetTag FROM Win32_SystemEnclosure", &enclosure)
	var vendor, name, biosVendor, tag string
	if len(product) > 0 {
		f.MachineUUID, vendor, name = strings.ToLower(product[0].UUID), product[0].Vendor, product[0].Name
	}
	if len(bios) > 0 {
		f.Serial, biosVendor = bios[0].SerialNumber, bios[0].Manufacturer
	}
	if len(enclosure) > 0 {
		tag = enclosure[0].SMBIOSAssetTag
	}
	f.Cloud.Provider = provider(vendor, name, biosVendor, tag)
	if f.Cloud.Provider != "" && f.Cloud.Provider != "none" {
		metadata(ctx, src, &f.Cloud)
	}
}
