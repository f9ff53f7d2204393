package wasmbin

// SectionNames lists the sections of wasm in order: the standard name of
// each known section, "custom:" and its name for a custom section.
func SectionNames(wasm []byte) ([]string, error) {
	secs, err := splitSections(wasm)
	if err != nil {
		return nil, err
	}
	std := [...]string{"custom", "type", "import", "function", "table", "memory", "global",
		"export", "start", "element", "code", "data", "datacount", "tag"}
	names := make([]string, len(secs))
	for i, s := range secs {
		names[i] = std[s.id]
		if s.id == secCustom {
			name, _ := s.reader().name()
			names[i] += ":" + name
		}
	}
	return names, nil
}
