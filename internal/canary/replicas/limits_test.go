package replicas

import "testing"

func ptr(v IntOrPercent) *IntOrPercent { return &v }

func TestResolve(t *testing.T) {
	tests := []struct {
		v        IntOrPercent
		replicas int32
		up       bool
		want     int32
	}{
		{Percent(25), 5, true, 2},  // 1.25 rounds up for maxSurge
		{Percent(25), 5, false, 1}, // and down for maxUnavailable
		{Percent(25), 4, true, 1},
		{Percent(25), 3, false, 0},
		{Percent(100), 7, false, 7},
		{Percent(150), 2, true, 3},
		{Percent(0), 10, true, 0},
		{Percent(25), 0, true, 0},
		{Pods(3), 0, true, 3}, // pod counts do not depend on replicas
		{Pods(3), 10, false, 3},
		{Pods(-1), 10, false, 0}, // invalid, treated as 0
	}
	for _, tt := range tests {
		if got := Resolve(tt.v, tt.replicas, tt.up); got != tt.want {
			t.Errorf("Resolve(%+v, %d, %v) = %d, want %d", tt.v, tt.replicas, tt.up, got, tt.want)
		}
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name                  string
		surge, unav           *IntOrPercent
		replicas              int32
		wantSurge, wantUnavai int32
	}{
		{"defaults of 5", nil, nil, 5, 2, 1},
		{"defaults of 10", nil, nil, 10, 3, 2},
		{"defaults of 1", nil, nil, 1, 1, 0},
		{"0%/0% becomes 0/1", ptr(Percent(0)), ptr(Percent(0)), 10, 0, 1},
		{"0 surge, 25% of 3 rounds to 0, becomes 1", ptr(Pods(0)), ptr(Percent(25)), 3, 0, 1},
		{"unavailable capped at replicas", ptr(Pods(3)), ptr(Pods(2)), 1, 3, 1},
		{"replicas 0 has no unavailable", ptr(Pods(0)), ptr(Pods(0)), 0, 0, 0},
		{"replicas 0 keeps an absolute surge", ptr(Pods(3)), ptr(Pods(2)), 0, 3, 0},
		{"100%/0%", ptr(Percent(100)), ptr(Percent(0)), 11, 11, 0},
		{"50%/0 rounds surge up", ptr(Percent(50)), ptr(Pods(0)), 5, 3, 0},
	}
	for _, tt := range tests {
		s, u := Limits(tt.surge, tt.unav, tt.replicas)
		if s != tt.wantSurge || u != tt.wantUnavai {
			t.Errorf("%s: Limits = %d/%d, want %d/%d", tt.name, s, u, tt.wantSurge, tt.wantUnavai)
		}
	}
}
