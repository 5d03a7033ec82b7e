//! The index's schema: its fields, the word analyzer and the merge policy. A change here
//! needs [`SCHEMA_VERSION`] raised (the index is then rebuilt).

use super::*;

#[derive(Clone, Copy)]
pub(super) struct Fields {
    pub(super) id: Field,
    pub(super) id0: Field,
    pub(super) id1: Field,
    pub(super) id2: Field,
    pub(super) text: Field,
    pub(super) kind: Field,
    pub(super) author: Field,
    pub(super) created: Field,
    pub(super) size: Field,
    pub(super) ref_author: Field,
    pub(super) ref_seq: Field,
}

pub(super) const F_ID0: &str = "id0";
pub(super) const F_ID1: &str = "id1";
pub(super) const F_ID2: &str = "id2";
pub(super) const F_CREATED: &str = "created_ms";
pub(super) const F_REF_AUTHOR: &str = "ref_author";
pub(super) const F_REF_SEQ: &str = "ref_seq";

pub(super) fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs)
            .set_fieldnorms(true),
    );
    let exact = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    let fast = NumericOptions::default().set_fast();
    let fields = Fields {
        id: b.add_bytes_field("id", BytesOptions::default().set_indexed()),
        id0: b.add_u64_field(F_ID0, fast.clone()),
        id1: b.add_u64_field(F_ID1, fast.clone()),
        id2: b.add_u64_field(F_ID2, fast.clone()),
        text: b.add_text_field("text", words),
        kind: b.add_text_field("kind", exact.clone()),
        author: b.add_text_field("author", exact),
        created: b.add_u64_field(F_CREATED, fast.clone()),
        size: b.add_u64_field("size", fast.clone()),
        ref_author: b.add_u64_field(F_REF_AUTHOR, fast.clone()),
        ref_seq: b.add_u64_field(F_REF_SEQ, fast),
    };
    (b.build(), fields)
}

pub(super) fn build_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES + 1))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

pub(super) fn merge_policy() -> LogMergePolicy {
    let mut policy = LogMergePolicy::default();
    // Reclaim the space of replaced/removed records once a segment is a third deleted.
    policy.set_del_docs_ratio_before_merge(0.33);
    policy
}
