package paths

func defaultPaths() Paths {
	const dir = "/Library/Application Support/Wirefleet"
	return Paths{Config: dir, State: dir}
}
