-- made by dump_sqlite.py; schema and rows as the old release left them
PRAGMA user_version = 0;
BEGIN;
CREATE TABLE concept_examples (
	concept VARCHAR(64) NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	path TEXT NOT NULL, 
	label INTEGER NOT NULL, 
	vec BLOB NOT NULL, 
	PRIMARY KEY (concept, sha256), 
	FOREIGN KEY(concept) REFERENCES concepts (name) ON DELETE CASCADE
);
INSERT INTO "concept_examples" VALUES('my-dog', '1111111111111111111111111111111111111111111111111111111111111111', '/home/u/Pictures/dog.jpg', 1, X'61B82B3E6021CC3E9331243E5AE221BF59EFE03E85CD5D3ED56785BEDA60903E');
CREATE TABLE concepts (
	name VARCHAR(64) NOT NULL, 
	created_at BIGINT NOT NULL, 
	trained_at BIGINT, 
	dim INTEGER, 
	weights BLOB, 
	bias FLOAT, 
	threshold FLOAT, 
	metrics TEXT, 
	PRIMARY KEY (name)
);
INSERT INTO "concepts" VALUES('my-dog', 1796607654, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE embeddings (
	photo_id INTEGER NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	dim INTEGER NOT NULL, 
	vec BLOB NOT NULL, 
	PRIMARY KEY (photo_id, kind), 
	FOREIGN KEY(photo_id) REFERENCES photos (id) ON DELETE CASCADE
);
INSERT INTO "embeddings" VALUES(1, 'image', 8, X'61B82B3E6021CC3E9331243E5AE221BF59EFE03E85CD5D3ED56785BEDA60903E');
INSERT INTO "embeddings" VALUES(1, 'clip', 4, X'F290983DDEED52BED8AB26BE7F4876BF');
INSERT INTO "embeddings" VALUES(2, 'image', 8, X'BA5E043F65C125BFC4EFD83D364C13BE14DDEABD3CBB5FBD2A0303BFD2AE70BD');
CREATE TABLE meta (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "meta" VALUES('schema_version', '1');
CREATE VIRTUAL TABLE photo_text USING fts5(body, tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO "photo_text"(rowid, body) VALUES(1, 'GOOD BOY');
INSERT INTO "photo_text"(rowid, body) VALUES(2, 'TOTAL 12.50 EUR');
CREATE TABLE photos (
	id INTEGER NOT NULL, 
	path TEXT NOT NULL, 
	folder TEXT NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	mtime_ns BIGINT NOT NULL, 
	width INTEGER NOT NULL, 
	height INTEGER NOT NULL, 
	taken VARCHAR(19), 
	nsfw FLOAT, 
	indexed_at BIGINT NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (path)
);
INSERT INTO "photos" VALUES(1, '/home/u/Pictures/dog.jpg', '/home/u/Pictures', '1111111111111111111111111111111111111111111111111111111111111111', 1234, 1700000000000000000, 640, 480, '2023-05-01T10:00:00', 0.01, 1796607654);
INSERT INTO "photos" VALUES(2, '/home/u/Pictures/receipt.png', '/home/u/Pictures', '2222222222222222222222222222222222222222222222222222222222222222', 999, 1700000001000000000, 300, 900, NULL, NULL, 1796607654);
CREATE TABLE tags (
	photo_id INTEGER NOT NULL, 
	tag VARCHAR(200) COLLATE "NOCASE" NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	score FLOAT NOT NULL, 
	PRIMARY KEY (photo_id, tag, source), 
	FOREIGN KEY(photo_id) REFERENCES photos (id) ON DELETE CASCADE
);
INSERT INTO "tags" VALUES(1, 'dog', 'model', 0.93);
INSERT INTO "tags" VALUES(1, 'grass', 'model', 0.4);
INSERT INTO "tags" VALUES(2, 'text', 'model', 0.8);
CREATE INDEX ix_photos_folder ON photos (folder);
CREATE INDEX ix_photos_sha256 ON photos (sha256);
CREATE INDEX tags_by_tag ON tags (tag, score);
COMMIT;
