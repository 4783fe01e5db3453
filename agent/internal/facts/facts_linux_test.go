package facts

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// gcpMetadata answers the way GCE's metadata server does, only with the
// Metadata-Flavor header (without it GCE refuses: so must the agent send it).
func gcpMetadata(t *testing.T) *httptest.Server {
	answers := map[string]string{
		"/computeMetadata/v1/instance/zone":         "projects/123456/zones/europe-west1-b",
		"/computeMetadata/v1/instance/machine-type": "projects/123456/machineTypes/e2-medium",
		"/computeMetadata/v1/instance/id":           "4520031799277581759",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok || r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		w.Write([]byte(a))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCollectFromFixtures(t *testing.T) {
	md := gcpMetadata(t)
	for _, tc := range []struct {
		name   string
		root   string
		smbios string
		want   func(t *testing.T, f wire.Facts)
	}{
		{"a GCE machine, root on LVM on LUKS", "testdata/gcp", "", func(t *testing.T, f wire.Facts) {
			if f.OS != (wire.OSFacts{Name: "debian", Version: "12", Kernel: "6.1.0-26-cloud-amd64", Arch: f.OS.Arch}) || f.Hostname != "db-1" {
				t.Errorf("os %+v hostname %q", f.OS, f.Hostname)
			}
			if f.CPU != (wire.CPUFacts{Model: "AMD EPYC 7B13", Cores: 2}) || f.MemoryBytes != 4025932<<10 {
				t.Errorf("cpu %+v memory %d", f.CPU, f.MemoryBytes)
			}
			if f.MachineUUID != "4c4c4544-0036-3210-8058-b7c04f4e3232" || f.Serial != "GoogleCloud-1234" {
				t.Errorf("uuid %q serial %q", f.MachineUUID, f.Serial)
			}
			want := wire.CloudFacts{Provider: "gcp", Region: "europe-west1", Zone: "europe-west1-b", InstanceType: "e2-medium", InstanceID: "4520031799277581759"}
			if f.Cloud != want {
				t.Errorf("cloud %+v, want %+v", f.Cloud, want)
			}
			if len(f.Disks) != 2 || f.Disks[0].Mount != "/" || !*f.Disks[0].Encrypted || f.Disks[1].Mount != "/boot" || *f.Disks[1].Encrypted {
				t.Errorf("disks %+v: want / (encrypted: LVM on LUKS) and /boot (not); proc, tmpfs and the bind mount left out", f.Disks)
			}
		}},
		{"on premises (QEMU), no metadata asked", "testdata/onprem", "", func(t *testing.T, f wire.Facts) {
			if f.OS.Name != "ubuntu" || f.OS.Version != "24.04" || f.Cloud != (wire.CloudFacts{Provider: "none"}) {
				t.Errorf("os %+v cloud %+v", f.OS, f.Cloud)
			}
			if len(f.Disks) != 1 || *f.Disks[0].Encrypted {
				t.Errorf("disks %+v", f.Disks)
			}
		}},
		{"a container on GCE, given the host's SMBIOS elsewhere", "testdata/onprem", "testdata/gcp/sys/class/dmi/id", func(t *testing.T, f wire.Facts) {
			if f.OS.Name != "ubuntu" || f.Cloud.Provider != "gcp" || f.Cloud.Region != "europe-west1" || f.Serial != "GoogleCloud-1234" {
				t.Errorf("os %+v cloud %+v serial %q", f.OS, f.Cloud, f.Serial)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Collect(context.Background(), Sources{Root: tc.root, MetadataURL: md.URL, SMBIOSDir: tc.smbios}, "1.4.0")
			if err := f.Validate(); err != nil {
				t.Fatalf("collected facts the server would refuse: %v", err)
			}
			if f.Agent != "1.4.0" {
				t.Errorf("agent version %q", f.Agent)
			}
			tc.want(t, f)
		})
	}
}

func TestMountinfoEscapes(t *testing.T) {
	if got := unescapeMount(`/srv\040data\134x`); got != `/srv data\x` {
		t.Fatalf("%q", got)
	}
}

// The tracker hands facts out when they change and once a day, not with
// every report.
func TestTrackerSendsOnlyChanges(t *testing.T) {
	tr := &Tracker{Sources: Sources{Root: "testdata/onprem"}, Version: "1", Every: time.Minute, Refresh: time.Hour}
	t0 := time.Unix(1_800_000_000, 0)
	if tr.Due(context.Background(), t0) == nil {
		t.Fatal("the first report carries no facts")
	}
	if tr.Due(context.Background(), t0.Add(30*time.Second)) != nil {
		t.Fatal("unchanged facts sent again")
	}
	free := tr.cur
	free.Disks = append([]wire.DiskFacts(nil), free.Disks...)
	free.Disks[0].FreeBytes++
	if changeHash(free) != changeHash(tr.cur) {
		t.Fatal("free space moving counts as a change of facts")
	}
	tr.Version = "2" // an update: a fact changed
	if tr.Due(context.Background(), t0.Add(45*time.Second)) != nil {
		t.Fatal("facts collected again before Every")
	}
	if f := tr.Due(context.Background(), t0.Add(61*time.Second)); f == nil || f.Agent != "2" {
		t.Fatalf("changed facts not sent: %+v", f)
	}
	if tr.Due(context.Background(), t0.Add(30*time.Minute)) != nil {
		t.Fatal("unchanged facts sent again")
	}
	if tr.Due(context.Background(), t0.Add(62*time.Minute)) == nil {
		t.Fatal("no refresh after Refresh")
	}
}

// On this machine: what is collected is accepted by the server, and the
// basics are there.
func TestCollectLive(t *testing.T) {
	f := Collect(context.Background(), Sources{Live: true, MetadataURL: "http://127.0.0.1:1"}, "dev")
	if err := f.Validate(); err != nil {
		t.Fatalf("live facts the server would refuse: %v\n%+v", err, f)
	}
	if f.OS.Kernel == "" || f.CPU.Cores == 0 || f.MemoryBytes == 0 {
		t.Fatalf("live facts %+v", f)
	}
	for _, d := range f.Disks {
		if d.SizeBytes == 0 || d.Encrypted == nil {
			t.Errorf("disk %+v: no size or no encryption state", d)
		}
	}
	b, _ := json.Marshal(f)
	t.Logf("this machine: %d bytes of JSON in a report: %s", len(b), b)
}
