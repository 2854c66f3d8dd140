package lifecycle

import (
	"reflect"
	"testing"
	"time"
)

// TestCloneSharesNothing fills every field of a record (including fields
// added later) and checks that its clone shares no pointer, slice or map
// with it: memory's copies are handed out to callers that modify them.
func TestCloneSharesNothing(t *testing.T) {
	e := &Record{}
	fill(reflect.ValueOf(e).Elem())
	c := e.Clone()
	if !reflect.DeepEqual(e, c) {
		t.Fatal("the clone differs from the record")
	}
	if path := shared(reflect.ValueOf(e).Elem(), reflect.ValueOf(c).Elem(), "connectorEntry"); path != "" {
		t.Errorf("the clone shares %s with the record: extend clone()", path)
	}
}

var timeType = reflect.TypeOf(time.Time{})

// fill sets every field of v to a non-zero value, allocating what it points to.
func fill(v reflect.Value) {
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 2))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, val := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(val)
		v.SetMapIndex(k, val)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		v.SetUint(1)
	case reflect.Float64:
		v.SetFloat(1)
	}
}

// shared returns the path of the first pointer, slice or map a and b share.
func shared(a, b reflect.Value, path string) string {
	if a.Type() == timeType {
		return ""
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	case reflect.Slice:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
		for i := range a.Len() {
			if p := shared(a.Index(i), b.Index(i), path+"[i]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
	}
	return ""
}
