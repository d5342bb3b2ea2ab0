DROP FUNCTION rows_differ(text, text), same_rows(text, text), orphan_parts();
