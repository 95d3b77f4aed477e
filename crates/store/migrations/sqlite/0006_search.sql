-- Member search: a full-text index over name, headline and company, kept by triggers in the same
-- transaction as the profile it indexes. External content: the text lives once, in `members`.
CREATE VIRTUAL TABLE member_search USING fts5(
    name, headline, company,
    content = 'members', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
INSERT INTO member_search (member_search) VALUES ('rebuild');

CREATE TRIGGER member_search_insert AFTER INSERT ON members BEGIN
    INSERT INTO member_search (rowid, name, headline, company)
    VALUES (new.id, new.name, new.headline, new.company);
END;
CREATE TRIGGER member_search_delete AFTER DELETE ON members BEGIN
    INSERT INTO member_search (member_search, rowid, name, headline, company)
    VALUES ('delete', old.id, old.name, old.headline, old.company);
END;
CREATE TRIGGER member_search_update AFTER UPDATE OF name, headline, company ON members BEGIN
    INSERT INTO member_search (member_search, rowid, name, headline, company)
    VALUES ('delete', old.id, old.name, old.headline, old.company);
    INSERT INTO member_search (rowid, name, headline, company)
    VALUES (new.id, new.name, new.headline, new.company);
END;
