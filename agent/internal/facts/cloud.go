package facts

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// provider names the cloud SMBIOS says the machine runs in ("none": no
// cloud the agent knows; "": SMBIOS unreadable).
func provider(sysVendor, productName, biosVendor, assetTag string) string {
	switch {
	case sysVendor == "" && productName == "" && biosVendor == "":
		return ""
	case strings.Contains(sysVendor, "Amazon") || strings.Contains(biosVendor, "Amazon"):
		return "aws"
	case sysVendor == "Google" || strings.Contains(productName, "Google Compute Engine"):
		return "gcp"
	case sysVendor == "Microsoft Corporation" && assetTag == "7783-7084-3265-9085-8269-3286-77":
		return "azure"
	case strings.Contains(sysVendor, "Hetzner"):
		return "hetzner"
	case strings.Contains(sysVendor, "DigitalOcean"):
		return "digitalocean"
	}
	return "none"
}

// metadata asks the provider's instance metadata service for region,
// zone, instance type and ID (2 s at most; what does not answer stays
// empty).
func metadata(ctx context.Context, src Sources, c *wire.CloudFacts) {
	hc := src.HTTP
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{Proxy: nil}} // never through a proxy
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	base := src.metadata()
	get := func(method, path string, hdr map[string]string) string {
		req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
		if err != nil {
			return ""
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil || resp.StatusCode != http.StatusOK {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	switch c.Provider {
	case "aws": // IMDSv2: a session token first
		tok := get(http.MethodPut, "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"})
		var doc struct {
			Region, AvailabilityZone, InstanceType, InstanceID string
		}
		if json.Unmarshal([]byte(get(http.MethodGet, "/latest/dynamic/instance-identity/document", map[string]string{"X-aws-ec2-metadata-token": tok})), &doc) == nil {
			c.Region, c.Zone, c.InstanceType, c.InstanceID = doc.Region, doc.AvailabilityZone, doc.InstanceType, doc.InstanceID
		}
	case "gcp":
		h := map[string]string{"Metadata-Flavor": "Google"}
		last := func(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }
		c.Zone = last(get(http.MethodGet, "/computeMetadata/v1/instance/zone", h))
		if i := strings.LastIndexByte(c.Zone, '-'); i > 0 {
			c.Region = c.Zone[:i]
		}
		c.InstanceType = last(get(http.MethodGet, "/computeMetadata/v1/instance/machine-type", h))
		c.InstanceID = get(http.MethodGet, "/computeMetadata/v1/instance/id", h)
	case "azure":
		var doc struct {
			Location, Zone, VMSize, VMID string
		}
		if json.Unmarshal([]byte(get(http.MethodGet, "/metadata/instance/compute?api-version=2021-02-01", map[string]string{"Metadata": "true"})), &doc) == nil {
			c.Region, c.Zone, c.InstanceType, c.InstanceID = doc.Location, doc.Zone, doc.VMSize, doc.VMID
		}
	}
}
