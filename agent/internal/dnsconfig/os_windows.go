package dnsconfig

import (
	"errors"
	"os/exec"

	"golang.org/x/sys/windows/registry"
)

// nrptKey is where the DNS Client service reads local Name Resolution
// Policy Table rules.
const nrptKey = `SYSTEM\CurrentControlSet\Services\Dnscache\Parameters\DnsPolicyConfig`

// nrptRule names the agent's rule (one per domain).
const nrptRule = `wirefleet-agent`

func (m *Manager) nrptKey() string {
	if m.NRPTKey != "" {
		return m.NRPTKey
	}
	return nrptKey
}

// plan: an NRPT rule sends queries for .<domain> to the fleet resolver;
// other names keep the interfaces' own servers.
func (m *Manager) plan(c Config) (Record, error) {
	return Record{Mode: ModeNRPT, Domain: c.Domain, Nameserver: c.Nameserver.String(), Interface: c.Interface,
		Key: m.nrptKey() + `\` + nrptRule}, nil
}

func (m *Manager) apply(rec Record, _ Config) error {
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, rec.Key, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	for _, set := range []func() error{
		func() error { return k.SetDWordValue("Version", 2) },
		func() error { return k.SetStringsValue("Name", []string{"." + rec.Domain}) },
		func() error { return k.SetStringValue("GenericDNSServers", rec.Nameserver) },
		func() error { return k.SetDWordValue("ConfigOptions", 8) }, // 8: the rule names DNS servers
		func() error { return k.SetStringValue("IPSECCARestriction", "") },
	} {
		if err := set(); err != nil {
			return err
		}
	}
	flushDNS()
	return nil
}

func (m *Manager) undo(rec Record) error {
	err := registry.DeleteKey(registry.LOCAL_MACHINE, rec.Key)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err == nil {
		flushDNS()
	}
	return err
}

// flushDNS makes the DNS Client forget answers cached under the old
// rules; the rules themselves are re-read when the key changes.
func flushDNS() { _ = exec.Command("ipconfig", "/flushdns").Run() }
