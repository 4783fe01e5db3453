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
	r, err := wire.NormalizeDNSRecord(r)
	if err != nil {
		return r, err
	}
	if s.hub.DNSDomain() == "" {
		return r, wire.Errorf(wire.CodeInvalidArgument, "names are off on this server (--dns-domain off): a record would never be answered")
	}
	ch, err := s.db.AddDNSRecord(ctx, a, r)
	if err != nil {
		return r, err
	}
	return r, s.synced(ctx, ch)
}

// RemoveDNSRecords removes a name's records (of one type, when given).
func (s *Service) RemoveDNSRecords(ctx context.Context, a Actor, name, rtype string) ([]wire.DNSRecord, error) {
	name, err := wire.NormalizeDNSRecordName(name)
	if err != nil {
		return nil, err
	}
	rtype = strings.ToUpper(strings.TrimSpace(rtype))
	if rtype != "" && rtype != "A" && rtype != "AAAA" && rtype != "CNAME" {
		return nil, wire.Errorf(wire.CodeInvalidArgument, "record type %q: want A, AAAA or CNAME", rtype)
	}
	removed, ch, err := s.db.RemoveDNSRecords(ctx, a, name, rtype)
	if err != nil {
		return nil, err
	}
	return removed, s.synced(ctx, ch)
}
