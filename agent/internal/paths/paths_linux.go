package paths

func defaultPaths() Paths { return Paths{Config: "/etc/wirefleet", State: "/var/lib/wirefleet"} }
