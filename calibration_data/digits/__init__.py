"""Data files of the demo model (calib.npz, eval.npz); a package only so that they ship in the wheel."""
