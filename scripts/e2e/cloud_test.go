package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/vishvananda/netns"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// inNamespace runs fn on an OS thread that has entered network namespace
// ns: sockets it creates (a listener, a dialed connection) belong to ns
// for good. The thread is given back only if it returned to the test's
// own namespace.
func inNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // else the thread ends with the goroutine
		}
		errc <- err
	}()
	return <-errc
}

// gceMetadata serves what GCE's metadata server answers at the paths the
// agent asks, refusing requests without Metadata-Flavor: Google as it does.
func gceMetadata() http.Handler {
	answers := map[string]string{
		"/computeMetadata/v1/instance/zone":         "projects/123456789/zones/europe-west4-a",
		"/computeMetadata/v1/instance/machine-type": "projects/123456789/machineTypes/n2-standard-4",
		"/computeMetadata/v1/instance/id":           "7215588011212351337",
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok || r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Metadata-Flavor", "Google")
		io.WriteString(w, a)
	})
}

// TestCloudInventoryInNamespaces: an agent whose SMBIOS says Google
// Compute Engine (a captured /sys/class/dmi/id, given with --smbios-dir)
// asks the metadata service at its real address, 169.254.169.254, which
// a fake GCE metadata server answers from another namespace. The server
// files the machine under gcp / europe-west4: the machine list filters
// by it, and the console's Clouds page (Chromium, reaching the server in
// its namespace through a proxy) shows it with its zone and type.
func TestCloudInventoryInNamespaces(t *testing.T) {
	f := newFleet(t, 3)
	meta := f.hosts[2]
	run(t, "ip", "-n", meta.ns, "addr", "add", "169.254.169.254/32", "dev", "eth0")
	var l net.Listener
	if err := inNamespace(meta.ns, func() (err error) { l, err = net.Listen("tcp", "169.254.169.254:80"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: gceMetadata(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	vm := f.hosts[1]
	run(t, "ip", "-n", vm.ns, "route", "add", "169.254.169.254/32", "dev", "eth0")
	smbios, err := filepath.Abs("../../agent/internal/facts/testdata/gcp/sys/class/dmi/id")
	if err != nil {
		t.Fatal(err)
	}
	a := f.enrollWith(vm, 1, []string{"--smbios-dir", smbios})

	var m wire.Machine
	eventually(t, 20*time.Second, "the machine is listed under gcp", func() bool {
		var ms []wire.Machine
		json.Unmarshal([]byte(run(t, f.server, "machines", "list", "--fact", "cloud.provider=gcp", "--data-dir", f.data, "--json")), &ms)
		if len(ms) == 1 {
			m = ms[0]
		}
		return len(ms) == 1
	})
	want := wire.CloudFacts{Provider: "gcp", Region: "europe-west4", Zone: "europe-west4-a", InstanceType: "n2-standard-4", InstanceID: "7215588011212351337"}
	if m.Name != a.name() || m.Facts.Cloud != want || m.Facts.Serial != "GoogleCloud-1234" {
		t.Fatalf("machine %s facts %+v, want cloud %+v", m.Name, m.Facts, want)
	}

	exe := ""
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			exe = p
		}
	}
	if exe == "" {
		t.Skip("the Clouds page check needs Debian's chromium (.ci/run installs it); the inventory part passed")
	}
	pw := regexp.MustCompile(`admin password:\s+(\S+)`).FindStringSubmatch(f.srv.output())
	if pw == nil {
		t.Fatalf("no admin password in the server's output:\n%s", f.srv.output())
	}
	base := proxyTo(t, f.hosts[0].ns, f.hosts[0].addr+":8443")
	profile, _ := os.MkdirTemp("", "wirefleet-chromium-")
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.Flag("no-first-run", true), chromedp.UserDataDir(profile))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancel(); cancelA() })
	var clouds string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#password", pw[1]),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#q"),
		chromedp.Navigate(base+"/clouds"),
		chromedp.WaitVisible(`section.cloud[data-provider="gcp"]`),
		chromedp.Text(`section.cloud[data-provider="gcp"]`, &clouds),
	); err != nil {
		t.Fatalf("the Clouds page in Chromium: %v", err)
	}
	for _, w := range []string{"gcp · europe-west4", "1 machines (1 online)", a.name() + "\t" + a.ipv4() + "\teurope-west4-a\tn2-standard-4"} {
		if !strings.Contains(clouds, w) {
			t.Errorf("the Clouds page lacks %q:\n%s", w, clouds)
		}
	}
}

// proxyTo forwards connections to a listener of the test's namespace on
// to addr in namespace ns (each dialed from a socket made there), and
// returns its https:// base URL: Chromium runs in the test's namespace.
func proxyTo(t *testing.T, ns, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var up net.Conn
				if err := inNamespace(ns, func() (err error) { up, err = net.DialTimeout("tcp", addr, 5*time.Second); return err }); err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, c); up.Close() }()
				io.Copy(c, up)
			}()
		}
	}()
	return fmt.Sprintf("https://%s", l.Addr())
}
