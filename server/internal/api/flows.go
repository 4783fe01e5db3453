package api

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
)

// maxFlowReportBytes bounds a flow report once decompressed: 10,000
// records of about 400 bytes, with room. A gzip body is read through
// this bound, so a small bomb cannot inflate past it.
const maxFlowReportBytes = 8 << 20

// agentFlows takes a machine's flow records (gzip-encoded or plain). It
// answers once they are stored: an acknowledged record is never lost.
func (s *Server) agentFlows(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	var body io.Reader = http.MaxBytesReader(w, r.Body, wire.MaxBodyBytes)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidJSON, "flow report: not gzip: %v", err))
			return
		}
		defer zr.Close()
		body = zr
	default:
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "Content-Encoding %q: gzip or none", enc))
		return
	}
	var rep wire.FlowReport
	if err := decodeLimit(body, &rep, maxFlowReportBytes); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.fl.ReportFlows(r.Context(), m, rep); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listFlows answers GET /api/v1/flows: machine (name or ID), addr, port,
// verdict, since and until (RFC 3339, or a duration ago: "1h"), limit
// (≤ 1000), cursor.
func (s *Server) listFlows(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fq := fleet.FlowQuery{Machine: q.Get("machine"), Addr: q.Get("addr"), Verdict: q.Get("verdict")}
	var err error
	if p := q.Get("port"); p != "" {
		n, perr := strconv.ParseUint(p, 10, 16)
		if perr != nil || n == 0 {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "port %q: 1–65535", p))
			return
		}
		fq.Port = uint16(n)
	}
	if fq.Since, err = timeParam(q.Get("since"), s.now()); err != nil {
		s.writeError(w, r, err)
		return
	}
	if fq.Until, err = timeParam(q.Get("until"), s.now()); err != nil {
		s.writeError(w, r, err)
		return
	}
	if l := q.Get("limit"); l != "" {
		if fq.Limit, err = strconv.Atoi(l); err != nil || fq.Limit < 1 || fq.Limit > 1000 {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "limit %q: 1–1000", l))
			return
		}
	}
	if c := q.Get("cursor"); c != "" {
		if fq.Cursor, err = strconv.ParseInt(c, 10, 64); err != nil || fq.Cursor <= 0 {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "cursor %q: use the next value of the previous page", c))
			return
		}
	}
	recs, next, err := s.fl.Flows(r.Context(), fq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := wire.FlowsResponse{Records: recs}
	if next > 0 {
		out.Next = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

// timeParam reads a time: RFC 3339, or a duration before now ("90m").
func timeParam(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, wire.Errorf(wire.CodeInvalidArgument, "time %q: RFC 3339 (2026-12-06T10:00:00Z) or a duration ago (1h)", clip(v))
}
