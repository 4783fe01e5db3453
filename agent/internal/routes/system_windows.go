package routes

import (
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/windows"
)

// NewSystem returns Windows' routes, through the IP helper API
// (CreateIpForwardEntry2 and DeleteIpForwardEntry2 on the tunnel's
// interface), not netsh. Routing for the fleet is not built for Windows
// yet.
func NewSystem() System { return windowsSystem{} }

type windowsSystem struct{}

var (
	iphlpapi                        = windows.NewLazySystemDLL("iphlpapi.dll")
	procInitializeIpForwardEntry    = iphlpapi.NewProc("InitializeIpForwardEntry")
	procCreateIpForwardEntry2       = iphlpapi.NewProc("CreateIpForwardEntry2")
	procDeleteIpForwardEntry2       = iphlpapi.NewProc("DeleteIpForwardEntry2")
	procConvertInterfaceAliasToLuid = iphlpapi.NewProc("ConvertInterfaceAliasToLuid")
)

// row is the route of p on the interface named iface (its alias).
func row(iface string, p netip.Prefix) (*windows.MibIpForwardRow2, error) {
	alias, err := windows.UTF16PtrFromString(iface)
	if err != nil {
		return nil, err
	}
	var luid uint64
	if r, _, _ := procConvertInterfaceAliasToLuid.Call(uintptr(unsafe.Pointer(alias)), uintptr(unsafe.Pointer(&luid))); r != 0 {
		return nil, fmt.Errorf("find interface %s: %w", iface, windows.Errno(r))
	}
	var rw windows.MibIpForwardRow2
	procInitializeIpForwardEntry.Call(uintptr(unsafe.Pointer(&rw)))
	rw.InterfaceLuid = luid
	fam, data := sockaddrInet(p.Addr())
	rw.DestinationPrefix.Prefix.Family = fam
	rw.DestinationPrefix.Prefix.Data = *(*[6]uint32)(unsafe.Pointer(&data))
	rw.DestinationPrefix.PrefixLength = uint8(p.Bits())
	rw.NextHop.Family = fam // on-link: the unspecified address
	rw.Metric = 0
	rw.Protocol = 3 // MIB_IPPROTO_NETMGMT: added by management
	return &rw, nil
}

func (windowsSystem) AddRoute(iface string, p netip.Prefix) error {
	rw, err := row(iface, p)
	if err != nil {
		return err
	}
	r, _, _ := procCreateIpForwardEntry2.Call(uintptr(unsafe.Pointer(rw)))
	if r != 0 && windows.Errno(r) != windows.ERROR_OBJECT_ALREADY_EXISTS {
		return fmt.Errorf("CreateIpForwardEntry2 %s: %w", p, windows.Errno(r))
	}
	return nil
}

func (windowsSystem) DelRoute(iface string, p netip.Prefix) error {
	rw, err := row(iface, p)
	if err != nil {
		return nil // the interface is gone, and its routes with it
	}
	r, _, _ := procDeleteIpForwardEntry2.Call(uintptr(unsafe.Pointer(rw)))
	if r != 0 && windows.Errno(r) != windows.ERROR_NOT_FOUND {
		return fmt.Errorf("DeleteIpForwardEntry2 %s: %w", p, windows.Errno(r))
	}
	return nil
}

func (windowsSystem) Existing(string, netip.Prefix) bool { return false }

func (windowsSystem) Forward(string, bool) (Undo, error) {
	return Undo{}, errors.New("routing for the fleet (--advertise-routes, --advertise-exit-node) runs on Linux; Windows can use routes and exit nodes")
}

func (windowsSystem) Unforward(Undo) error { return nil }

func (windowsSystem) Exit(string, bool, []netip.Addr) error {
	return errors.New("using an exit node is built for Linux so far; on Windows the agent's own connections would enter the tunnel")
}

func (windowsSystem) Unexit() error { return nil }
