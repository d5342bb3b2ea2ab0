//! Metadata of earlier part format versions, read (and, for version 3, still written)
//! through their own layouts: bincode has no optional trailing fields.

/// Version 2 metadata: as version 3 without frame dictionaries.
pub(super) mod v2 {
    use crate::granule::Mark;
    use crate::part::{ColumnSpec, DictBlock};
    use crate::codec::CodecChain;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub struct ColumnMeta {
        pub(in crate::part) spec: ColumnSpec,
        pub(in crate::part) codec: CodecChain,
        pub(in crate::part) dictionary: Option<DictBlock>,
        pub(in crate::part) marks: Vec<Mark>,
        pub(in crate::part) compressed_bytes: u64,
        pub(in crate::part) uncompressed_bytes: u64,
        pub(in crate::part) null_count: u64,
        pub(in crate::part) min: Option<Vec<u8>>,
        pub(in crate::part) max: Option<Vec<u8>>,
    }

    /// Laid out as version 3's, with these columns.
    pub type PartMeta = super::v3::PartMeta<ColumnMeta>;

    impl From<PartMeta> for crate::part::PartMeta {
        fn from(m: PartMeta) -> Self {
            let columns = m
                .columns
                .into_iter()
                .map(|c| crate::part::ColumnMeta {
                    spec: c.spec,
                    codec: c.codec,
                    dictionary: c.dictionary,
                    marks: c.marks,
                    compressed_bytes: c.compressed_bytes,
                    uncompressed_bytes: c.uncompressed_bytes,
                    null_count: c.null_count,
                    min: c.min,
                    max: c.max,
                    frame_dictionary: None,
                })
                .collect();
            // As a version 3 part would read.
            super::v3::PartMeta { version: m.version, rows: m.rows, granule_rows: m.granule_rows, columns, primary_key: m.primary_key, primary_index: m.primary_index }.into()
        }
    }
}

/// Version 3 metadata: as version 4 without JSON subcolumns (still written for parts
/// without them).
pub(super) mod v3 {
    use crate::part::ColumnMeta;
    use serde::{Deserialize, Serialize};

    /// Generic over its columns' metadata: version 2 differs only there.
    #[derive(Serialize, Deserialize)]
    pub struct PartMeta<C = ColumnMeta> {
        pub(in crate::part) version: u16,
        pub(in crate::part) rows: u64,
        pub(in crate::part) granule_rows: Vec<u32>,
        pub(in crate::part) columns: Vec<C>,
        pub(in crate::part) primary_key: Vec<usize>,
        pub(in crate::part) primary_index: Vec<Vec<Option<Vec<u8>>>>,
    }

    impl PartMeta {
        pub(in crate::part) fn of(m: &crate::part::PartMeta) -> PartMeta {
            PartMeta {
                version: m.version,
                rows: m.rows,
                granule_rows: m.granule_rows.clone(),
                columns: m.columns.clone(),
                primary_key: m.primary_key.clone(),
                primary_index: m.primary_index.clone(),
            }
        }
    }

    impl From<PartMeta> for crate::part::PartMeta {
        fn from(m: PartMeta) -> Self {
            crate::part::PartMeta {
                version: m.version,
                rows: m.rows,
                granule_rows: m.granule_rows,
                columns: m.columns,
                primary_key: m.primary_key,
                primary_index: m.primary_index,
                subcolumns: Vec::new(),
            }
        }
    }
}
