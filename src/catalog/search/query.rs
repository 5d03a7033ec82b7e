//! Searching: the user's text becomes plain words (never query syntax), the words one
//! tantivy query, and the hits a page, read by the collectors of [`super::collect`].

use super::*;

impl SearchIndex {
    /// Runs a search. `accept` is asked about candidate content ids (e.g. "is a holder online");
    /// rejected ones are left out of `ids` and `total`, and paging applies after it. It is only
    /// asked about the hits that matter (the page's candidates, and up to the counting caps), and
    /// may be asked about an id more than once.
    pub fn search(
        &self,
        q: &SearchQuery,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<SearchHits, SearchError> {
        self.search_with_caps(q, accept, COUNT_CAP, COUNT_SCAN_BUDGET)
    }

    pub(super) fn search_with_caps(
        &self,
        q: &SearchQuery,
        accept: &dyn Fn(&str) -> bool,
        count_cap: usize,
        scan_budget: usize,
    ) -> Result<SearchHits, SearchError> {
        if q.offset > MAX_OFFSET {
            return Err(SearchError::InvalidQuery(format!(
                "page offset {} is past the deepest page ({MAX_OFFSET}): refine the search",
                q.offset
            )));
        }
        let limit = q.limit.min(MAX_LIMIT);
        let k = q.offset + limit;
        let searcher = self.inner.reader.searcher();
        let words = self.parse_text(&q.text);
        let Some(query) = self.build_query(&searcher, &words, q)? else {
            return Ok(SearchHits::default());
        };
        let relevance = q.sort == SortBy::Relevance && !words.is_empty();
        let mut counter = Counter::new(count_cap, scan_budget);
        let top = if relevance {
            let top = top_by_score(&searcher, query.as_ref(), k, accept)?;
            count_accepted(&searcher, query.as_ref(), accept, &mut counter)?;
            top
        } else {
            newest(&searcher, query.as_ref(), k, accept, &mut counter)?
        };
        let ids: Vec<String> = top
            .into_iter()
            .skip(q.offset)
            .map(|(seg, doc)| {
                let cols = IdColumns::open(&searcher.segment_readers()[seg as usize])?;
                let mut buf = [0u8; 40];
                Ok(cols.hex(doc, &mut buf).to_string())
            })
            .collect::<Result<_, SearchError>>()?;
        // `accept` may change its mind between calls: never report fewer than what is shown.
        let shown = if ids.is_empty() {
            0
        } else {
            q.offset + ids.len()
        };
        let total = counter.count.max(shown);
        Ok(SearchHits {
            total,
            total_is_lower_bound: counter.stopped,
            ids,
        })
    }

    /// Splits the user's text into distinct analyzed words, the last one possibly a prefix.
    fn parse_text(&self, text: &str) -> Words {
        let mut end = text.len().min(MAX_QUERY_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let truncated = end < text.len();
        let text = &text[..end];
        let mut analyzer = self.inner.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut tokens: Vec<(String, usize)> = Vec::new();
        while stream.advance() {
            let token = stream.token();
            tokens.push((token.text.clone(), token.offset_to));
        }
        // The last word is still being typed unless something follows it.
        let prefix = match tokens.last() {
            Some((_, end)) if !truncated && *end == text.len() => tokens.pop().map(|t| t.0),
            _ => None,
        };
        let mut seen = HashSet::new();
        let mut exact: Vec<String> = tokens
            .into_iter()
            .map(|t| t.0)
            .filter(|t| seen.insert(t.clone()))
            .collect();
        exact.truncate(MAX_QUERY_WORDS - usize::from(prefix.is_some()));
        Words { exact, prefix }
    }

    /// The query for the words and filters; `None` if nothing can match.
    fn build_query(
        &self,
        searcher: &Searcher,
        words: &Words,
        q: &SearchQuery,
    ) -> Result<Option<Box<dyn Query>>, SearchError> {
        let f = &self.inner.fields;
        let mut must: Vec<Box<dyn Query>> = Vec::new();
        for word in &words.exact {
            must.push(self.words_clause(std::slice::from_ref(word)));
        }
        if let Some(prefix) = &words.prefix {
            let terms = self.expand_prefix(searcher, prefix)?;
            if terms.is_empty() {
                return Ok(None);
            }
            must.push(self.words_clause(&terms));
        }
        for (field, values) in [(f.kind, &q.kinds), (f.author, &q.authors)] {
            if !values.is_empty() {
                must.push(Box::new(ConstScoreQuery::new(any_of(field, values), 0.0)));
            }
        }
        Ok(Some(match must.len() {
            0 => Box::new(AllQuery),
            1 => must.pop().expect("one clause"),
            _ => Box::new(BooleanQuery::new(
                must.into_iter().map(|q| (Occur::Must, q)).collect(),
            )),
        }))
    }

    /// Any of `terms` (in the title, a tag or the description).
    fn words_clause(&self, terms: &[String]) -> Box<dyn Query> {
        let field = self.inner.fields.text;
        let term_query = |t: &String| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, t),
                IndexRecordOption::WithFreqs,
            ))
        };
        if let [single] = terms {
            return term_query(single);
        }
        Box::new(BooleanQuery::new(
            terms
                .iter()
                .map(|t| (Occur::Should, term_query(t)))
                .collect(),
        ))
    }

    /// The most frequent indexed words that start with `prefix` (fewer for short prefixes, whose
    /// expansions would be many and unspecific).
    fn expand_prefix(&self, searcher: &Searcher, prefix: &str) -> Result<Vec<String>, SearchError> {
        let max_terms = match prefix.chars().count() {
            1 => 4,
            2 => 8,
            _ => 16,
        };
        let f = &self.inner.fields;
        let mut freq: HashMap<Vec<u8>, u64> = HashMap::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(f.text)?;
            let mut stream = inverted
                .terms()
                .range()
                .ge(prefix.as_bytes())
                .into_stream()?;
            let mut scanned = 0;
            while scanned < MAX_PREFIX_SCAN && stream.advance() {
                let key = stream.key();
                if !key.starts_with(prefix.as_bytes()) {
                    break;
                }
                *freq.entry(key.to_vec()).or_default() += u64::from(stream.value().doc_freq);
                scanned += 1;
            }
        }
        let mut terms: Vec<(Vec<u8>, u64)> = freq.into_iter().collect();
        terms.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(terms
            .into_iter()
            .take(max_terms)
            .filter_map(|(t, _)| String::from_utf8(t).ok())
            .collect())
    }
}

struct Words {
    exact: Vec<String>,
    prefix: Option<String>,
}

impl Words {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefix.is_none()
    }
}

/// A document matching any of `values` exactly in `field`.
fn any_of(field: Field, values: &[String]) -> Box<dyn Query> {
    let mut terms: Vec<Term> = values
        .iter()
        .map(|v| Term::from_field_text(field, v))
        .collect();
    terms.sort();
    terms.dedup();
    if terms.len() <= 8 {
        Box::new(BooleanQuery::new_multiterms_query(terms))
    } else {
        Box::new(TermSetQuery::new(terms))
    }
}
