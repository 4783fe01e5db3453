package jsonkeys

import (
	"encoding/json"
	"testing"
)

type rule struct {
	Src   []string `json:"src"`
	Dst   []string `json:"dst"`
	Ports []int    `json:"ports,omitempty"`
}

type inner struct {
	Note string `json:"note"`
}

type doc struct {
	inner
	Rules  []rule              `json:"rules"`
	Tags   map[string][]string `json:"tags"`
	Extra  json.RawMessage     `json:"extra"`
	Any    any                 `json:"any"`
	Hidden string              `json:"-"`
	Plain  string
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		kind     Kind
		key      string
		offset   int64
	}{
		{"clean", `{"rules":[{"src":["*"],"dst":["tag:a"]}],"tags":{"a":["x"]}}`, 0, "", 0},
		{"the reported allow-all", `{"rules":[],"rules":[{"src":["*"],"dst":["*"]}]}`, Duplicate, "rules", 12},
		{"a rule's src twice", `{"rules":[{"src":["tag:a"],"dst":["tag:a"],"src":["*"]}]}`, Duplicate, "src", 43},
		{"upper case", `{"RULES":[]}`, Case, "RULES", 1},
		{"mixed case in a rule", `{"rules":[{"Src":["*"],"dst":["*"]}]}`, Case, "Src", 11},
		{"long s folds to s", `{"rules":[{"ſrc":["*"],"dst":["*"]}]}`, Case, "ſrc", 11},
		{"embedded field", `{"NOTE":"x"}`, Case, "NOTE", 1},
		{"a field without a tag", `{"plain":"x"}`, Case, "plain", 1},
		{"a field without a tag, spelled right", `{"Plain":"x"}`, 0, "", 0},
		{"map keys may differ in case", `{"tags":{"a":[],"A":[]}}`, 0, "", 0},
		{"map keys may not repeat", `{"tags":{"a":[],"a":["x"]}}`, Duplicate, "a", 16},
		{"raw values may not repeat keys", `{"extra":{"k":1,"k":2}}`, Duplicate, "k", 16},
		{"untyped values may not repeat keys", `{"any":[{"k":1,"k":2}]}`, Duplicate, "k", 15},
		{"unknown keys are the decoder's business", `{"unknown":1,"Unknown":2}`, 0, "", 0},
		{"the same key in two objects", `{"rules":[{"src":[],"dst":[]},{"src":[],"dst":[]}]}`, 0, "", 0},
		{"escaped duplicate", `{"rules":[],"r\u0075les":[]}`, Duplicate, "rules", 12},
		{"malformed JSON is left to the decoder", `{"rules":[}`, 0, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.in), &doc{})
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			p, ok := err.(*Problem)
			if !ok || p.Kind != tc.kind || p.Key != tc.key || p.Offset != tc.offset {
				t.Fatalf("Check = %#v, want kind %d key %q at %d", err, tc.kind, tc.key, tc.offset)
			}
		})
	}
	if err := Check([]byte(`{"a":1,"a":2}`), nil); err == nil {
		t.Error("an untyped document with a repeated key passed")
	}
}

// FuzzCheck: any input, valid JSON or not, is judged without a panic; a
// document Check passes has no object whose keys repeat, by a second
// count of every object's keys.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"rules":[],"rules":[]}`, `{"RULES":1}`, `[{"a":{"b":1,"b":2}}]`, `{"a":"\u0061","\u0061":1}`, `{`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Check(data, &doc{})
		if err != nil || !json.Valid(data) {
			return
		}
		if p := All(data, nil); len(p) != 0 {
			t.Fatalf("Check passed %q but All (untyped) finds %v", data, p[0])
		}
	})
}
