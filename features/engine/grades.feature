# language: zh-CN
功能: 评星定级(grades)与一票否决(veto)
  按本期得分对照门槛评定等级;一票否决项一旦记入,本期不得评星,无论分数多高。
  在积分超市花分不影响评星。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
      | H2   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | P1   | H1   | 否   |
      | P2   | H2   | 否   |
    并且 规则文件如下:
      """
      point_types:
        - key: moral
          name: 道德积分
          holder: household
          step: 0.5
          period: year
          year_end: {policy: carry, percent: 20}
          spendable: true
          grades:
            name: 星级文明户
            levels:
              - {key: star3, name: 三星文明户, min: 60}
              - {key: star2, name: 二星文明户, min: 40}
              - {key: star1, name: 一星文明户, min: 20}
      event_types:
        - {key: model, name: 美丽庭院示范户, subject: person}
        - {key: wedding, name: 婚事新办, subject: person}
        - {key: gambling, name: 赌博, subject: person}
      rules:
        - {id: Y1, name: 美丽庭院示范户, point_type: moral, event: model, points: {fixed: 45}}
        - {id: Y2, name: 婚事新办, point_type: moral, event: wedding, points: {fixed: 10}}
        - {id: G1, name: 赌博, point_type: moral, event: gambling, points: {fixed: -20}, veto: true}
      """

  场景: 按门槛评星,并告知离下一星还差多少
    当 录入以下事件:
      | 编号 | 类型    | 时间             | 村民 |
      | y1   | model   | 2026-04-01 09:00 | P1   |
      | y2   | wedding | 2026-05-01 09:00 | P1   |
      | y3   | wedding | 2026-05-01 09:00 | P2   |
    那么 H1 的 moral 在 2026 的等级为“二星文明户”
    并且 H1 距“三星文明户”还差 5 分(moral,2026)
    并且 H2 的 moral 在 2026 没有等级
    并且 H2 距“一星文明户”还差 10 分(moral,2026)

  场景: 一票否决:分数够三星也不得评星,扣分照常记入
    当 录入以下事件:
      | 编号 | 类型     | 时间             | 村民 |
      | y1   | model    | 2026-04-01 09:00 | P1   |
      | y2   | model    | 2026-05-01 09:00 | P1   |
      | g1   | gambling | 2026-06-01 09:00 | P1   |
    那么 事件 g1 按规则 G1 记 -20 分,说明为:
      """
      基础分 -20
      一票否决项:本期不得评星
      """
    并且 H1 的 moral 在 2026 的得分为 70
    并且 H1 的 moral 在 2026 被一票否决
    并且 H1 的 moral 在 2026 没有等级
    当 结算 moral 的 2026 期
    那么 冻结的 moral 2026 等级中 H1 没有等级,记为一票否决

  场景: 一票否决只影响当期,下一年可以重新评星
    当 录入以下事件:
      | 编号 | 类型     | 时间             | 村民 |
      | g1   | gambling | 2026-06-01 09:00 | P1   |
      | y1   | model    | 2027-04-01 09:00 | P1   |
    那么 H1 的 moral 在 2026 没有等级
    并且 H1 的 moral 在 2027 的等级为“二星文明户”

  场景: 冲正否决项后恢复评星
    假如 已录入以下事件:
      | 编号 | 类型     | 时间             | 村民 |
      | y1   | model    | 2026-04-01 09:00 | P1   |
      | g1   | gambling | 2026-06-01 09:00 | P1   |
    当 冲正事件 g1 按规则 G1 的记录,理由“查无实据”
    那么 H1 的 moral 在 2026 的等级为“二星文明户”

  场景: 在积分超市花分不降低评星,结算时冻结等级
    当 录入以下事件:
      | 编号 | 类型  | 时间             | 村民 |
      | y1   | model | 2026-04-01 09:00 | P1   |
    并且 H1 在积分超市花费 30 分 moral
    那么 H1 的 moral 余额为 15
    并且 H1 的 moral 在 2026 的等级为“二星文明户”
    当 结算 moral 的 2026 期
    那么 冻结的 moral 2026 等级中 H1 为“star2”
    并且 H1 的 moral 余额为 3
