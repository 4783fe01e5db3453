//go:build !linux && !darwin && !windows

package dnsconfig

import "errors"

var errUnsupported = errors.New("dnsconfig: this system's resolver cannot be configured; use --accept-dns=false")

func (m *Manager) plan(Config) (Record, error) { return Record{}, errUnsupported }
func (m *Manager) apply(Record, Config) error  { return errUnsupported }
func (m *Manager) undo(Record) error           { return nil }
