package fleet

import (
	"context"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// DNSRecords lists the fleet's DNS records and its domain.
func (s *Service) DNSRecords(ctx context.Context) (wire.DNSRecordsResponse, error) {
	rs, err := s.db.DNSRecords(ctx)
	if err != nil {
		return wire.DNSRecordsResponse{}, err
	}
	return wire.DNSRecordsResponse{Domain: s.hub.DNSDomain(), Records: rs}, nil
}

// AddDNSRecord checks and adds a record; it returns once this server's
// agents are being sent it.
func (s *Service) AddDNSRecord(ctx context.Context, a Actor, r wire.DNSRecord) (wire.DNSRecord, error) {
	if s.hub.DNSDomain() == "" {
		return r, wire.Errorf(wire.CodeInvalidArgument, "names are off on this server (--dns-domain off): a record would never be answered")
	}
	name, err := relativeName(r.Name, s.hub.DNSDomain())
	if err != nil {
		return r, err
	}
	r.Name = name
	r, err = wire.NormalizeDNSRecord(r)
	if err != nil {
		return r, err
	}
	ch, err := s.db.AddDNSRecord(ctx, a, r)
	if err != nil {
		return r, err
	}
	return r, s.synced(ctx, ch)
}

// RemoveDNSRecords removes a name's records (of one type, when given).
func (s *Service) RemoveDNSRecords(ctx context.Context, a Actor, name, rtype, value string) ([]wire.DNSRecord, error) {
	name, err := relativeName(name, s.hub.DNSDomain())
	if err != nil {
		return nil, err
	}
	name, err = wire.NormalizeDNSRecordName(name)
	if err != nil {
		return nil, err
	}
	rtype = strings.ToUpper(strings.TrimSpace(rtype))
	if rtype != "" && rtype != "A" && rtype != "AAAA" && rtype != "CNAME" {
		return nil, wire.Errorf(wire.CodeInvalidArgument, "record type %q: want A, AAAA or CNAME", rtype)
	}
	removed, ch, err := s.db.RemoveDNSRecords(ctx, a, name, rtype, strings.TrimSpace(value))
	if err != nil {
		return nil, err
	}
	return removed, s.synced(ctx, ch)
}

// commonTLDs are last labels that say a name is meant in another domain
// ("db.example.com"), not below the fleet's ("db.prod"); the special-use
// ones are there because they are what people type for private names.
var commonTLDs = map[string]bool{
	"com": true, "net": true, "org": true, "io": true, "dev": true, "app": true, "cloud": true, "co": true,
	"edu": true, "gov": true, "info": true, "biz": true, "me": true, "ai": true, "de": true, "uk": true,
	"fr": true, "nl": true, "eu": true, "us": true, "ca": true, "jp": true, "cn": true, "ru": true,
	"local": true, "lan": true, "home": true, "corp": true, "internal": true, "intranet": true, "private": true,
	"localhost": true, "test": true, "example": true, "invalid": true, "arpa": true, "onion": true,
}

// relativeName turns a record name an admin typed into the name below
// the fleet domain: "db" and "db.fleet.internal" are both "db". A name in
// another domain ("db.example.com", or any name ending in a dot that is
// not in the fleet domain) is refused: it would otherwise be stored as
// "db.example.com.fleet.internal", a name nobody asks for. A single
// label with a trailing dot ("db.") is taken as relative, as before.
func relativeName(name, domain string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	absolute := strings.HasSuffix(n, ".")
	n = strings.TrimSuffix(n, ".")
	if domain == "" {
		return n, nil
	}
	if n == domain {
		return "", wire.Errorf(wire.CodeInvalidArgument, "record name %q is the fleet domain itself: give a name in it, such as db.%s", name, domain)
	}
	if rel, ok := strings.CutSuffix(n, "."+domain); ok {
		return rel, nil
	}
	labels := strings.Split(n, ".")
	if len(labels) > 1 && (absolute || commonTLDs[labels[len(labels)-1]]) {
		return "", wire.Errorf(wire.CodeInvalidArgument, "record name %q is not in the fleet domain %s: give a name in it, such as %s or %s.%s", name, domain, labels[0], labels[0], domain)
	}
	return n, nil
}
