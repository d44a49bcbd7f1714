package provider

import (
	"math"
	"net/http"
	"strings"
	"testing"
)

func TestDecodePrometheus(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       any
		empty      bool
		err        string
	}{
		{"vector", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.01"]}]}}`, 200, []float64{0.01}, false, ""},
		{"empty vector (seed bug #5)", `{"status":"success","data":{"resultType":"vector","result":[]}}`, 200, []float64{}, true, ""},
		{"NaN sample", `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"NaN"]}]}}`, 200, []float64{math.NaN()}, false, ""},
		{"scalar", `{"status":"success","data":{"resultType":"scalar","result":[1,"3"]}}`, 200, 3.0, false, ""},
		{"empty matrix", `{"status":"success","data":{"resultType":"matrix","result":[]}}`, 200, []float64{}, true, ""},
		{"matrix (rangeQuery)", `{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"0.5"],[2,"0.7"]]},{"values":[[1,"0.9"]]}]}}`, 200, []float64{0.5, 0.7, 0.9}, false, ""},
		{"string", `{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`, 200, nil, false, "not supported"},
		{"bad query", `{"status":"error","errorType":"bad_data","error":"parse error"}`, 400, nil, false, "bad_data: parse error"},
		{"gateway down", `<html>502</html>`, 502, nil, false, "HTTP 502"},
		{"short sample", `{"status":"success","data":{"resultType":"vector","result":[{"value":[1]}]}}`, 200, nil, false, "want [timestamp"},
		{"number not string", `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,0.5]}]}}`, 200, nil, false, "not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, empty, err := DecodePrometheus(tc.status, []byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want error containing %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil || empty != tc.empty {
				t.Fatalf("err %v empty %v", err, empty)
			}
			if v, ok := got.([]float64); ok {
				w := tc.want.([]float64)
				if len(v) != len(w) || (len(v) > 0 && !(v[0] == w[0] || math.IsNaN(v[0]) && math.IsNaN(w[0]))) {
					t.Fatalf("got %v want %v", v, w)
				}
			} else if got != tc.want {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

func FuzzDecodePrometheus(f *testing.F) {
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"0.01"]}]}}`))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}`))
	f.Add(500, []byte(`oops`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		v, empty, err := DecodePrometheus(status, body)
		if err == nil && v == nil {
			t.Fatalf("no error and no value for %q", body)
		}
		if empty && err != nil {
			t.Fatal("empty with an error")
		}
		_ = http.StatusText(status)
	})
}
