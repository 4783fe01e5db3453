// Package jsonkeys finds what encoding/json lets through silently in an
// object's keys: a key given twice (the decoder keeps the last one, so a
// reviewed document can hide a second value after the first), and a key
// that names a struct field only case-insensitively ("RULES" for
// "rules"), which the decoder accepts as that field.
//
// Check walks the document beside the Go type it will be decoded into:
// struct fields must be spelled as their JSON names; map keys and the
// members of untyped values (any, json.RawMessage) only must not repeat.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode"
)

// Kind says what is wrong with a key.
type Kind int

const (
	// Duplicate: the key appears earlier in the same object.
	Duplicate Kind = iota + 1
	// Case: the key matches a field's JSON name only case-insensitively.
	Case
)

// Problem is the first bad key found in a document.
type Problem struct {
	Kind Kind
	Key  string
	// Want is the field's spelling (Case only).
	Want string
	// Offset is the byte offset of the key's opening quote; First, for
	// a duplicate, that of its first appearance.
	Offset, First int64
}

func (p *Problem) Error() string {
	if p.Kind == Case {
		return fmt.Sprintf("key %q must be written %q", p.Key, p.Want)
	}
	return fmt.Sprintf("key %q appears twice in one object (the second would silently replace the first)", p.Key)
}

// Check reports the first duplicate or miscased key in data, a JSON
// document meant for a value of v's type (v may be a pointer to it, a
// reflect.Type, or nil for an untyped document). Malformed JSON is not
// its business: it returns nil and leaves the error to the decoder.
func Check(data []byte, v any) error {
	if ps := All(data, v); len(ps) > 0 {
		return ps[0]
	}
	return nil
}

// All is Check reporting every bad key, in document order, for a reader
// who fixes them all at once (a policy's author).
func All(data []byte, v any) []*Problem {
	var t reflect.Type
	switch x := v.(type) {
	case nil:
	case reflect.Type:
		t = x
	default:
		t = reflect.TypeOf(v)
	}
	w := walker{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	w.dec.UseNumber()
	if err := w.value(t); err != nil {
		return nil // malformed: the decoder says why
	}
	return w.problems
}

type walker struct {
	dec      *json.Decoder
	data     []byte
	problems []*Problem
}

var (
	unmarshaler = reflect.TypeFor[json.Unmarshaler]()
	rawMessage  = reflect.TypeFor[json.RawMessage]()
)

// deref strips pointers and reports whether the type is one whose keys
// this package can reason about (not a custom unmarshaler).
func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		if t.Implements(unmarshaler) {
			return nil
		}
		t = t.Elem()
	}
	if t == nil || t == rawMessage || t.Kind() == reflect.Interface {
		return nil
	}
	if t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) {
		return nil
	}
	return t
}

func (w *walker) value(t reflect.Type) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	t = deref(t)
	switch d {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for w.dec.More() {
			if err := w.value(elem); err != nil {
				return err
			}
		}
	case '{':
		var fields *fieldSet
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = fieldsOf(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := map[string]int64{}
		for w.dec.More() {
			before := w.dec.InputOffset()
			tok, err := w.dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			off := w.keyStart(before)
			if first, dup := seen[key]; dup {
				w.problems = append(w.problems, &Problem{Kind: Duplicate, Key: key, Offset: off, First: first})
			} else {
				seen[key] = off
			}
			child := elem
			if fields != nil {
				if ft, ok := fields.exact[key]; ok {
					child = ft
				} else if name, ok := fields.folded[fold(key)]; ok {
					w.problems = append(w.problems, &Problem{Kind: Case, Key: key, Want: name, Offset: off})
					child = fields.exact[name]
				}
			}
			if err := w.value(child); err != nil {
				return err
			}
		}
	}
	_, err = w.dec.Token() // the closing delimiter
	return err
}

// keyStart finds the opening quote of the key read after offset from.
func (w *walker) keyStart(from int64) int64 {
	if i := bytes.IndexByte(w.data[min(int(from), len(w.data)):], '"'); i >= 0 {
		return from + int64(i)
	}
	return from
}

type fieldSet struct {
	exact  map[string]reflect.Type
	folded map[string]string // fold(name) → the field's spelling
}

var fieldCache sync.Map // reflect.Type → *fieldSet

// fieldsOf lists a struct's JSON field names as encoding/json sees them:
// the tag's name, else the Go name; "-" left out; embedded structs
// without a name promoted.
func fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{exact: map[string]reflect.Type{}, folded: map[string]string{}}
	var add func(t reflect.Type, depth int)
	add = func(t reflect.Type, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct && depth < 8 {
					add(ft, depth+1)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, ok := fs.exact[name]; !ok {
				fs.exact[name] = f.Type
				fs.folded[fold(name)] = name
			}
		}
	}
	add(t, 0)
	fieldCache.Store(t, fs)
	return fs
}

// fold maps every rune to the smallest rune of its case-folding orbit, so
// two keys fold alike exactly when encoding/json would match them: not
// only "RULES" and "rules" but "ſrc" (a long s) and "src".
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
