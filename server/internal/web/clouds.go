package web

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// cloudGroup is the machines of one provider and region.
type cloudGroup struct {
	Provider, Region string
	Machines         []cloudMachine
	Cores            int
	Memory           uint64
	Online           int
}

type cloudMachine struct {
	ID, Name, IPv4, Zone, Type, OS string
	Online                         bool
}

// cloudsPage groups the active machines by the cloud and region their
// agents report (the inventory's facts): counts, cores, memory and
// addresses per region, built from what agents tell, with no cloud
// credentials. Machines on premises and those that did not say come last.
func (w *Web) cloudsPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	ms, err := w.db.ListMachines(r.Context(), store.MachineFilter{State: wire.MachineActive})
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	groups := map[[2]string]*cloudGroup{}
	for _, m := range ms {
		provider, region := "unknown", ""
		var c wire.CloudFacts
		var osName string
		if f := m.Facts; f != nil {
			c, osName = f.Cloud, f.OS.Name+" "+f.OS.Version
			switch c.Provider {
			case "none":
				provider = "on premises"
			case "":
			default:
				provider, region = c.Provider, c.Region
			}
		}
		k := [2]string{provider, region}
		g := groups[k]
		if g == nil {
			g = &cloudGroup{Provider: provider, Region: region}
			groups[k] = g
		}
		online := w.pres.Online(m, w.now())
		g.Machines = append(g.Machines, cloudMachine{ID: m.ID, Name: m.Name, IPv4: m.IPv4, Zone: c.Zone, Type: c.InstanceType, OS: osName, Online: online})
		if online {
			g.Online++
		}
		if m.Facts != nil {
			g.Cores += m.Facts.CPU.Cores
			g.Memory += m.Facts.MemoryBytes
		}
	}
	rank := func(p string) int {
		switch p {
		case "on premises":
			return 1
		case "unknown":
			return 2
		}
		return 0
	}
	var out []*cloudGroup
	for _, g := range groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *cloudGroup) int {
		return cmp.Or(cmp.Compare(rank(a.Provider), rank(b.Provider)), cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Region, b.Region))
	})
	w.render(rw, r, "clouds", http.StatusOK, page{Title: "Clouds", Nav: "clouds", Admin: s.Admin.Name, CSRF: s.CSRF,
		Data: map[string]any{"Groups": out, "Machines": len(ms)}})
}
