from ielmscan.model.tokens import (
    CLS_ID, NUM_SPECIAL, UNK_ID, kmers_to_ids, seq_to_kmers, vocab_size, vocabulary,
)


def test_vocabulary_layout_matches_documented_ids():
    vocab = vocabulary(3)
    assert vocab[:NUM_SPECIAL] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(vocab) == vocab_size(3) == 5 + 64
    assert vocab[CLS_ID] == "[CLS]"
    # First base most significant, A=0 C=1 G=2 T=3: ACG = 0*16 + 1*4 + 2.
    assert vocab.index("ACG") == NUM_SPECIAL + 6
    assert vocab[-1] == "TTT"


def test_seq_to_kmers_is_overlapping_and_short_input_gives_none():
    assert seq_to_kmers("ACGTA", 3) == ["ACG", "CGT", "GTA"]
    assert seq_to_kmers("AC", 3) == []


def test_kmers_to_ids_ignores_case_and_maps_ambiguity_to_unk():
    assert kmers_to_ids(["acg", "ACG"], 3) == [NUM_SPECIAL + 6] * 2
    assert kmers_to_ids(["ANG", "RYK"], 3) == [UNK_ID, UNK_ID]
