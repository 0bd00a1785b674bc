// Package over is a fixture for the shape test: Big has 26 methods, one more than issue 11 allows.
package over

type Big struct{}

func (Big) M00() {}
func (Big) M01() {}
func (Big) M02() {}
func (Big) M03() {}
func (Big) M04() {}
func (Big) M05() {}
func (Big) M06() {}
func (Big) M07() {}
func (Big) M08() {}
func (Big) M09() {}
func (Big) M10() {}
func (Big) M11() {}
func (Big) M12() {}
func (Big) M13() {}
func (Big) M14() {}
func (Big) M15() {}
func (Big) M16() {}
func (Big) M17() {}
func (Big) M18() {}
func (Big) M19() {}
func (Big) M20() {}
func (Big) M21() {}
func (Big) M22() {}
func (Big) M23() {}
func (Big) M24() {}
func (Big) M25() {}
