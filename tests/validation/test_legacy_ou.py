"""validation.legacy: OU cells and `ou gap --out` lines in the encodings before the one interval encoding are read
into it (numbers moved, never recomputed); records already in it come back unchanged."""
from syncgap.theory.intervals import interval_fields, read_triple, read_triples
from syncgap.validation.legacy import upgrade_ou_cell, upgrade_ou_gap_row


def test_old_base_cloning_cell_reads_into_one_encoding():
    old = {"d": 16, "agreement": [[0.9], [0.6]], "ci_low": [[0.8], [0.5]], "ci_high": [[1.0], [0.7]],
           "t075": [1.2, 1.1, 1.3], "t_level": [1.4, None, 1.6]}
    new = upgrade_ou_cell("base_cloning_d16", old)
    assert read_triple(new, "agreement") == [[[0.9], [0.6]], [[0.8], [0.5]], [[1.0], [0.7]]]
    assert read_triple(new, "t075") == [1.2, 1.1, 1.3] and read_triple(new, "t_level") == [1.4, None, 1.6]
    assert "ci_low" not in new and new["d"] == 16
    assert upgrade_ou_cell("base_cloning_d16", new) == new          # today's encoding: unchanged


def test_old_protocol_one_cell_and_gap_law_read_into_one_encoding():
    old = {"g": 0.5, "tau": [[2.0, 1.9, 2.1], [1.0, 0.9, 1.1]], "gap": [1.0, 0.8, 1.2],
           "gap_dit_steps": [5.0, 4.0, 6.0], "agreement": [0.5], "ci_low": [0.4], "ci_high": [0.6]}
    new = upgrade_ou_cell("layer_b_p1_g0.5", old)
    assert read_triples(new, "tau") == [[2.0, 1.9, 2.1], [1.0, 0.9, 1.1]]
    assert read_triple(new, "gap") == [1.0, 0.8, 1.2] and read_triple(new, "gap_dit_steps") == [5.0, 4.0, 6.0]
    law = upgrade_ou_cell("gap_law", {"gap0": 3.0, "gap0_ci": [2.0, 4.0], "gap": [3.0, 1.0], "gap_lo": [2.0, 0.5],
                                      "gap_hi": [4.0, 1.5], "eta": None, "eta_ci": None, "critical_g": 1.5,
                                      "critical_g_ci": [1.0, 2.0]})
    assert read_triple(law, "gap0") == [3.0, 2.0, 4.0] and read_triple(law, "gap") == [[3.0, 1.0], [2.0, 0.5], [4.0, 1.5]]
    assert read_triple(law, "eta") == [None, None, None] and read_triple(law, "critical_g") == [1.5, 1.0, 2.0]


def test_old_ou_gap_line_reads_into_one_encoding():
    old = {"g": 0.5, "rates": [1.0, 2.0], "t_mode": [[2.0, 1.9, 2.1], [1.0, 0.9, 1.1]], "gap": [1.0, 0.8, 1.2]}
    new = upgrade_ou_gap_row(old)
    assert new == {"g": 0.5, "rates": [1.0, 2.0], **interval_fields("t_mode", [2.0, 1.0], [1.9, 0.9], [2.1, 1.1]),
                   **interval_fields("gap", 1.0, 0.8, 1.2)}
    throughout = upgrade_ou_gap_row({"onsets": [{"feature": 0, "onset_dit_steps": None, "onset_reason": "flat"}]})
    assert throughout["onsets"][0]["onset_dit_steps_reason"] == "flat"
